public import Foundation
public import S3

/// One KAZOO account's storage settings, as the command line, the API and the server see them.
/// Holds no secret: the secret access key is sealed in the database and the client token is stored
/// only as a hash (see `AccountRecord`).
public struct Account: Sendable, Hashable {
    public enum DownloadMode: String, Sendable, Hashable, Codable, CaseIterable {
        /// GETs are answered with a 302 to a presigned S3 URL.
        case redirect
        /// The gateway streams the bytes itself.
        case proxy
    }

    public enum Encryption: String, Sendable, Hashable, Codable, CaseIterable {
        case aes256 = "AES256"
        case kms = "aws:kms"
    }

    /// KAZOO's account id: 32 lowercase hexadecimal characters.
    public var accountId: String
    public var name: String
    public var bucket: String
    /// The S3 host as typed, e.g. `s3.us-west-1.amazonaws.com` (optionally with `:port`).
    public var host: String
    /// Blank when it is read from the host.
    public var region: String?
    public var scheme: S3Endpoint.Scheme
    public var pathStyle: Bool
    public var accessKeyId: String
    /// Prepended to every object key; empty or ending in `/`.
    public var keyPrefix: String
    public var sse: Encryption?
    public var kmsKeyId: String?
    public var storageClass: String?
    public var downloadMode: DownloadMode
    /// Presigned GET lifetime; nil for the configured default.
    public var presignExpirySeconds: Int?
    public var enabled: Bool
    public var createdAt: Date
    public var updatedAt: Date

    /// Where the bucket is reached; the region is read from the host when not given.
    public func endpoint() throws(S3EndpointError) -> S3Endpoint {
        try S3Endpoint(
            host: host,
            region: region,
            scheme: scheme,
            addressingStyle: pathStyle ? .path : .virtualHosted,
            bucket: bucket
        )
    }

    /// What every stored object carries besides its bytes.
    public var objectOptions: S3ObjectOptions {
        var options = S3ObjectOptions(storageClass: storageClass)
        switch sse {
        case .none: break
        case .aes256: options.serverSideEncryption = .aes256
        case .kms: options.serverSideEncryption = .kms(keyId: kmsKeyId, bucketKey: false)
        }
        return options
    }

    static func isValidAccountId(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
