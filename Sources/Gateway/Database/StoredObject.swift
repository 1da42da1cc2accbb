public import Foundation

/// An object the gateway stored: which request path of which account became which key, with its
/// size, checksum, ETag and content type. Fetches resolve their (longer) paths against these.
public struct StoredObject: Codable, Sendable, Hashable {
    public var accountId: String
    /// The decoded path after the token, segments joined by `/`.
    public var requestPath: String
    public var objectKey: String
    public var size: Int
    public var checksum: String
    public var etag: String?
    public var contentType: String?
    public var storedAt: Date

    public init(
        accountId: String,
        requestPath: String,
        objectKey: String,
        size: Int,
        checksum: String,
        etag: String?,
        contentType: String?,
        storedAt: Date
    ) {
        self.accountId = accountId
        self.requestPath = requestPath
        self.objectKey = objectKey
        self.size = size
        self.checksum = checksum
        self.etag = etag
        self.contentType = contentType
        self.storedAt = storedAt
    }
}

/// What a fetch needs of an indexed object: the stored request path, its key and content type, and the
/// node whose spool holds it while it is not in S3 yet (several gateways; nil once S3 has it).
public struct IndexedPath: Sendable, Hashable {
    public var requestPath: String
    public var key: String
    public var contentType: String?
    public var pendingNode: String? = nil
}
