/// Errors the signer reports instead of producing a URL S3 would refuse.
public struct SigV4Error: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case expiresOutOfRange(Int)
    }

    private let code: Code

    /// `X-Amz-Expires` must be between 1 and 604800 seconds (seven days); S3 refuses anything else.
    public static func expiresOutOfRange(_ seconds: Int) -> SigV4Error { SigV4Error(code: .expiresOutOfRange(seconds)) }

    public var description: String {
        switch code {
        case .expiresOutOfRange(let seconds):
            "presigned URL expiry must be 1...604800 seconds (7 days), got \(seconds)"
        }
    }
}
