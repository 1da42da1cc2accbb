public import Foundation

/// One error type for everything an S3 call can end in: an S3 error answer (status, code, message,
/// request id) or a transport failure. Its description tells an operator what to do, and never
/// contains a credential, a signature or a presigned URL.
public struct S3Error: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// S3 answered with an error status or an error document.
        case response
        /// The connection failed, was reset, or timed out before an answer.
        case transport
    }

    public var kind: Kind
    /// HTTP status, 0 for transport failures.
    public var status: Int
    /// S3's error code (`AccessDenied`, `SlowDown`, ...), or a transport code (`ConnectionReset`, `Timeout`, `ConnectionFailed`).
    public var code: String
    public var message: String
    public var requestId: String?
    /// The region S3 says the bucket is in, when it said so (`x-amz-bucket-region`, `<Region>`).
    public var bucketRegion: String?
    /// The operation that failed (`PutObject`, `UploadPart`, ...).
    public var operation: String
    /// S3's clock when it answered (the `Date` header), used to correct a skewed local clock.
    public var serverDate: Date?

    public init(
        kind: Kind = .response,
        status: Int,
        code: String,
        message: String,
        requestId: String? = nil,
        bucketRegion: String? = nil,
        operation: String
    ) {
        self.kind = kind
        self.status = status
        self.code = code
        self.message = message
        self.requestId = requestId
        self.bucketRegion = bucketRegion
        self.operation = operation
    }

    static func transport(_ code: String, _ message: String, operation: String) -> S3Error {
        S3Error(kind: .transport, status: 0, code: code, message: message, operation: operation)
    }

    /// Worth trying again: throttling, S3's own failures, and the network.
    public var isRetryable: Bool {
        if kind == .transport { return code != "Cancelled" }
        switch code {
        case "SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "RequestTimeTooSkewed", "Throttling",
            "ThrottlingException", "RequestLimitExceeded":
            return true
        default:
            return [500, 502, 503, 504].contains(status) && !isRegionMismatch
        }
    }

    /// The request was signed with a clock S3 does not accept; retry after correcting the offset.
    public var isClockSkew: Bool { code == "RequestTimeTooSkewed" }

    /// The request went to the wrong region.
    public var isRegionMismatch: Bool {
        bucketRegion != nil
            && ["AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException", "301", "400"].contains(code)
    }

    /// The account's credentials or bucket are wrong: retrying cannot help until an operator acts.
    public var isAccountProblem: Bool {
        ["AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "AccountProblem"].contains(code)
            || isRegionMismatch
    }

    /// What happened and what to do about it, in one line.
    public var description: String {
        var text: String
        switch code {
        case "InvalidAccessKeyId":
            text = "the access key for this account was rejected: InvalidAccessKeyId (check the access key id, or that the IAM user still exists)"
        case "SignatureDoesNotMatch":
            text = "the secret access key for this account was rejected: SignatureDoesNotMatch (re-enter the secret access key)"
        case "AccessDenied":
            text =
                "S3 denied \(operation): AccessDenied (the IAM user or bucket policy must allow s3:PutObject, s3:GetObject and s3:ListBucket on this bucket)"
        case "NoSuchBucket":
            text = "the bucket does not exist: NoSuchBucket (check the bucket name and the host)"
        case "RequestTimeTooSkewed":
            text = "this machine's clock is more than 15 minutes off S3's: RequestTimeTooSkewed (run NTP)"
        case "NoSuchKey":
            text = "no such object: NoSuchKey"
        case "NoSuchUpload":
            text = "the multipart upload no longer exists: NoSuchUpload"
        case "EntityTooSmall":
            text = "a part was smaller than S3's 5 MiB minimum: EntityTooSmall"
        default:
            if isRegionMismatch, let bucketRegion {
                text = "the bucket is in region \(bucketRegion), not the one configured: set the account's region to \(bucketRegion)"
            } else if kind == .transport {
                text = "S3 could not be reached during \(operation): \(code)"
            } else {
                text = "S3 refused \(operation): \(code)"
            }
        }
        if isRegionMismatch, let bucketRegion, !text.contains(bucketRegion) {
            text += "; the bucket is in region \(bucketRegion): set the account's region to \(bucketRegion)"
        }
        if !message.isEmpty && kind == .response { text += " — S3 said: \(message)" }
        if status > 0 { text += " [HTTP \(status)" + (requestId.map { ", request id \($0)" } ?? "") + "]" }
        return text
    }
}
