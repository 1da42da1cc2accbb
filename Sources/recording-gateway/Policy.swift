import ArgumentParser
import Foundation
import Gateway

struct Policy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the AWS documents for one customer's bucket: IAM user policy, bucket policy, lifecycle rule.",
        discussion: """
            The user policy allows only s3:ListBucket, s3:PutObject and s3:GetObject on the bucket. The bucket \
            policy grants the same to --user-arn; --require-tls adds a statement denying requests without TLS. The \
            lifecycle rule aborts incomplete multipart uploads after 7 days (the gateway cannot, under least privilege).
            """
    )

    @Option(help: "The customer's bucket.") var bucket: String
    @Option(help: "The IAM user's ARN, e.g. arn:aws:iam::123456789012:user/acme-recordings.") var userArn: String?
    @Flag(help: "Deny every request to the bucket that does not use TLS.") var requireTls = false
    @Flag(help: "Print one JSON object holding every document.") var json = false

    func validate() throws {
        if let problem = BucketPolicies.problem(bucket: bucket, userArn: userArn) {
            throw ValidationError("\(problem.input == .bucket ? "bucket" : "user-arn"): \(problem.message)")
        }
    }

    func run() async throws {
        if json {
            print(AccountPresentation.json(BucketPolicies.all(bucket: bucket, userArn: userArn, requireTLS: requireTls)))
        } else {
            print(BucketPolicies.text(bucket: bucket, userArn: userArn, requireTLS: requireTls))
        }
    }
}
