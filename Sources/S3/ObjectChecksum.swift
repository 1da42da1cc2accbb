public import Crypto
import NIOCore

/// The checksum the uploader returns for a stored object, computed from the hashes it already
/// makes to sign each request, so that the whole object is hashed once, not twice:
///
/// - a body shorter than one part (one PutObject): `sha256:<hex of SHA-256(body)>`;
/// - a multipart upload of N parts: `sha256-composite:<hex of SHA-256(digest 1 ‖ … ‖ digest N)>-N`,
///   where digest i is the binary SHA-256 of part i — S3's own "composite" checksum construction.
///
/// It covers every byte in order and depends on the part size, which `ObjectChecksum` takes too,
/// so the same value can be recomputed from any copy of the bytes (a download, a spool file).
public struct ObjectChecksum: Sendable {
    public let partSize: Int
    private var part = SHA256()
    private var partBytes = 0
    private var digests: [SHA256Digest] = []
    private var total = 0

    public init(partSize: Int) {
        self.partSize = partSize
    }

    /// Feeds the next bytes of the object.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let take = Swift.min(partSize - partBytes, bytes.count - offset)
            part.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            partBytes += take
            offset += take
            total += take
            if partBytes == partSize {
                digests.append(part.finalize())
                part = SHA256()
                partBytes = 0
            }
        }
    }

    /// The checksum of everything fed so far.
    public func finalize() -> String {
        if total < partSize { return Self.single(part.finalize()) }
        var all = digests
        if partBytes > 0 { all.append(part.finalize()) }
        return Self.composite(all)
    }

    /// `sha256:<hex>`: the checksum of bytes hashed as one piece.
    public static func single(_ digest: SHA256Digest) -> String { "sha256:" + hex(digest) }

    static func composite(_ partDigests: [SHA256Digest]) -> String {
        var combined = SHA256()
        for digest in partDigests { digest.withUnsafeBytes { combined.update(bufferPointer: $0) } }
        return "sha256-composite:" + hex(combined.finalize()) + "-\(partDigests.count)"
    }

    /// Lowercase hex of a digest.
    public static func hex(_ digest: SHA256Digest) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    /// The SHA-256 of a buffer, as a digest and as the signed payload hash.
    static func sha256(_ buffer: ByteBufferView) -> (digest: SHA256Digest, payload: Payload) {
        var hasher = SHA256()
        buffer.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        let digest = hasher.finalize()
        return (digest, .sha256Hex(hex(digest)))
    }
}
