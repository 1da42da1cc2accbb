import Crypto

/// What the `x-amz-content-sha256` value (and the last line of the canonical request) says about the body.
public enum Payload: Sendable, Hashable {
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature (presigned URLs, streamed bodies checked otherwise).
    case unsigned
    /// The lowercase hex SHA-256 of the body, computed by the caller.
    case sha256Hex(String)

    /// The hash of an empty body.
    public static let empty = Payload.sha256Hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

    /// Hashes `bytes` now.
    public static func sha256(of bytes: some Sequence<UInt8>) -> Payload {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        var hex = ScratchBuffer(capacity: 64)
        hasher.finalize().withUnsafeBytes { hex.appendHex($0) }
        return .sha256Hex(hex.string(0..<hex.count))
    }

    /// The string that goes into the canonical request.
    public var value: String {
        switch self {
        case .unsigned: "UNSIGNED-PAYLOAD"
        case .sha256Hex(let hex): hex
        }
    }
}
