public import Foundation

/// An account as storage keeps it: the account plus its sealed secret and the hash of its client token.
public struct AccountRecord: Codable, Sendable, Hashable {
    public var accountId: String
    public var name: String
    public var bucket: String
    public var host: String
    public var region: String?
    public var scheme: String
    public var pathStyle: Bool
    public var accessKeyId: String
    public var sealedSecret: Data
    public var keyPrefix: String
    public var sse: String?
    public var kmsKeyId: String?
    public var storageClass: String?
    public var downloadMode: String
    public var presignExpirySeconds: Int?
    public var enabled: Bool
    public var tokenHash: String
    public var createdAt: Date
    public var updatedAt: Date
}
