/// What a stored object carries besides its bytes: content type, `x-amz-meta-*` metadata,
/// server-side encryption and storage class.
public struct S3ObjectOptions: Sendable, Hashable {
    public var contentType: String?
    /// Metadata names and values as given; `headers` makes them safe for S3 (see `S3Metadata`).
    public var metadata: [String: String]
    public var serverSideEncryption: ServerSideEncryption?
    /// `STANDARD`, `STANDARD_IA`, `GLACIER_IR`, ... or nil for the bucket's default.
    public var storageClass: String?

    public init(
        contentType: String? = nil,
        metadata: [String: String] = [:],
        serverSideEncryption: ServerSideEncryption? = nil,
        storageClass: String? = nil
    ) {
        self.contentType = contentType
        self.metadata = metadata
        self.serverSideEncryption = serverSideEncryption
        self.storageClass = storageClass
    }

    /// The request headers for PutObject and CreateMultipartUpload, metadata sorted by name.
    var headers: [HeaderField] {
        var fields: [HeaderField] = []
        if let contentType { fields.append(HeaderField("Content-Type", contentType)) }
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append(HeaderField("x-amz-meta-" + S3Metadata.name(name), S3Metadata.value(value)))
        }
        switch serverSideEncryption {
        case .none:
            break
        case .aes256:
            fields.append(HeaderField("x-amz-server-side-encryption", "AES256"))
        case .kms(let keyId, let bucketKey):
            fields.append(HeaderField("x-amz-server-side-encryption", "aws:kms"))
            if let keyId, !keyId.isEmpty { fields.append(HeaderField("x-amz-server-side-encryption-aws-kms-key-id", keyId)) }
            if bucketKey { fields.append(HeaderField("x-amz-server-side-encryption-bucket-key-enabled", "true")) }
        }
        if let storageClass, !storageClass.isEmpty { fields.append(HeaderField("x-amz-storage-class", storageClass)) }
        return fields
    }
}

/// Server-side encryption S3 applies to a stored object.
public enum ServerSideEncryption: Sendable, Hashable {
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    case aes256
    /// SSE-KMS with an optional key id (the bucket's default key when nil) and S3 Bucket Keys.
    case kms(keyId: String?, bucketKey: Bool)
}

/// S3 metadata must be US-ASCII ("User-defined object metadata" in the Amazon S3 user guide).
/// One documented rule: names are lowercased and every character outside `a-z 0-9 -` becomes `-`;
/// values keep printable ASCII (0x20...0x7E) except `%`, and every other byte of their UTF-8
/// becomes `%XX` (uppercase hex), so `Zoë` is stored as `Zo%C3%AB` and decodes back exactly.
public enum S3Metadata {
    public static func name(_ name: String) -> String {
        String(
            name.lowercased().map { character -> Character in
                character.isASCII && (character.isLetter || character.isNumber || character == "-") ? character : "-"
            }
        )
    }

    public static func value(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(contentsOf: String(byte, radix: 16, uppercase: true).leftPadded(to: 2).utf8)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The inverse of `value`.
    public static func decodeValue(_ stored: String) -> String {
        URIEncoding.decode(stored) ?? stored
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
