import S3
import Testing

struct S3ErrorTests {
    static func error(_ status: Int, _ code: String, region: String? = nil) -> S3Error {
        S3Error(status: status, code: code, message: "", bucketRegion: region, operation: "PutObject")
    }

    @Test(arguments: [
        (503, "SlowDown"), (500, "InternalError"), (400, "RequestTimeout"), (503, "ServiceUnavailable"), (502, "HTTP502"),
        (504, "HTTP504"), (403, "RequestTimeTooSkewed"),
    ])
    func retryable(status: Int, code: String) {
        #expect(Self.error(status, code).isRetryable)
    }

    @Test(arguments: [
        (403, "AccessDenied"), (404, "NoSuchBucket"), (403, "InvalidAccessKeyId"), (403, "SignatureDoesNotMatch"), (404, "NoSuchUpload"),
        (400, "EntityTooSmall"), (400, "InvalidPart"), (400, "XAmzContentSHA256Mismatch"),
    ])
    func permanent(status: Int, code: String) {
        #expect(!Self.error(status, code).isRetryable)
    }

    @Test func transportFailuresAreRetriedButCancellationIsNot() {
        #expect(S3Error(kind: .transport, status: 0, code: "ConnectionReset", message: "", operation: "UploadPart").isRetryable)
        #expect(S3Error(kind: .transport, status: 0, code: "Timeout", message: "", operation: "UploadPart").isRetryable)
        #expect(!S3Error(kind: .transport, status: 0, code: "Cancelled", message: "", operation: "UploadPart").isRetryable)
    }

    @Test func messagesSayWhatToDo() {
        #expect("\(Self.error(403, "InvalidAccessKeyId"))".contains("the access key for this account was rejected: InvalidAccessKeyId"))
        #expect("\(Self.error(403, "SignatureDoesNotMatch"))".contains("secret access key"))
        #expect("\(Self.error(404, "NoSuchBucket"))".contains("bucket does not exist"))
        #expect("\(Self.error(403, "RequestTimeTooSkewed"))".contains("clock"))
        #expect("\(Self.error(400, "AuthorizationHeaderMalformed", region: "eu-west-3"))".contains("set the account's region to eu-west-3"))
    }
}
