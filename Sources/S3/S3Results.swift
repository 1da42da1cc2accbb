public import AsyncHTTPClient
public import Foundation
public import NIOHTTP1

/// What S3 says about a stored object after PutObject or CompleteMultipartUpload.
public struct PutResult: Sendable, Hashable {
    public var etag: String?
    public var versionId: String?
}

/// One uploaded part, for CompleteMultipartUpload.
public struct CompletedPart: Sendable, Hashable {
    public var partNumber: Int
    public var etag: String

    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// How a best-effort AbortMultipartUpload ended.
public enum AbortOutcome: Sendable, Hashable {
    case aborted
    /// Expected under least privilege: the parts stay until the bucket's lifecycle rule removes them.
    case denied
    case failed(S3Error)
}

/// An object's headers as HeadObject and GetObject report them.
public struct ObjectInfo: Sendable, Hashable {
    public var size: Int
    public var etag: String?
    public var contentType: String?
    public var versionId: String?
    public var serverSideEncryption: String?
    public var kmsKeyId: String?
    public var storageClass: String?
    /// `x-amz-meta-*` without the prefix, values as stored (see `S3Metadata.decodeValue`).
    public var metadata: [String: String]

    init(headers: HTTPHeaders) {
        size = headers.first(name: "content-length").flatMap { Int($0) } ?? 0
        etag = headers.first(name: "etag")
        contentType = headers.first(name: "content-type")
        versionId = headers.first(name: "x-amz-version-id")
        serverSideEncryption = headers.first(name: "x-amz-server-side-encryption")
        kmsKeyId = headers.first(name: "x-amz-server-side-encryption-aws-kms-key-id")
        storageClass = headers.first(name: "x-amz-storage-class")
        var metadata: [String: String] = [:]
        for (name, value) in headers where name.lowercased().hasPrefix("x-amz-meta-") {
            metadata[String(name.lowercased().dropFirst("x-amz-meta-".count))] = value
        }
        self.metadata = metadata
    }
}

/// A GetObject answer whose body has not been read yet.
public struct ObjectStream: Sendable {
    public var info: ObjectInfo
    /// The object's bytes as they arrive; read it once.
    public var body: HTTPClientResponse.Body
}

/// One page of ListObjectsV2.
public struct ObjectList: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var size: Int
        public var etag: String?
    }

    public var objects: [Entry]
    public var isTruncated: Bool
}

/// What a bucket probe tells (`S3Client.probeBucket`).
public struct BucketInfo: Sendable, Hashable {
    /// `x-amz-bucket-region`, when S3 sent it.
    public var region: String?
    /// S3's clock (the `Date` header).
    public var serverDate: Date?
}
