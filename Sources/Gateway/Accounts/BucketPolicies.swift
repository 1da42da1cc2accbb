import Foundation
import S3

/// The AWS documents a reseller pastes when setting up one customer's bucket: the IAM user policy,
/// the bucket policy naming that user, and the lifecycle rule that cleans up incomplete multipart
/// uploads. Built as JSON objects (never as text with blanks to fill), so they always parse.
public enum BucketPolicies {
    /// The three actions the gateway needs, and nothing else.
    public static let actions = ["s3:ListBucket", "s3:PutObject", "s3:GetObject"]
    /// Incomplete multipart uploads are aborted this many days after they started.
    public static let abortIncompleteAfterDays = 7

    /// The inputs the documents are made from.
    public enum Input: Sendable { case bucket, userArn }

    /// Which input is unusable and why, if one is (the command line names the flag, the API the field).
    public static func problem(bucket: String, userArn: String?) -> (input: Input, message: String)? {
        if let problem = BucketName.problem(with: bucket) { return (.bucket, problem) }
        if let userArn, !isUserArn(userArn) {
            return (.userArn, "expected an IAM user ARN such as arn:aws:iam::123456789012:user/acme-recordings")
        }
        return nil
    }

    /// `arn:<partition>:iam::<12 digits>:user/<path/name>`.
    static func isUserArn(_ text: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "iam", parts[3].isEmpty else { return false }
        guard parts[4].count == 12, parts[4].allSatisfy(\.isNumber) else { return false }
        let name = parts[5].dropFirst("user/".count)
        return parts[5].hasPrefix("user/") && !name.isEmpty && !name.hasSuffix("/")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@_-/".contains($0)) }
    }

    static func resources(_ bucket: String) -> [String] { ["arn:aws:s3:::\(bucket)", "arn:aws:s3:::\(bucket)/*"] }

    /// The IAM user's (identity) policy.
    public static func userPolicy(bucket: String) -> [String: Any] {
        [
            "Version": "2012-10-17",
            "Statement": [
                ["Sid": "RecordingGateway", "Effect": "Allow", "Action": actions, "Resource": resources(bucket)] as [String: Any]
            ],
        ]
    }

    /// The bucket policy: the same three actions for the user's ARN; with `requireTLS`, a statement
    /// denying every request that does not come over TLS.
    public static func bucketPolicy(bucket: String, userArn: String?, requireTLS: Bool) -> [String: Any] {
        var statements: [[String: Any]] = []
        if let userArn {
            statements.append([
                "Sid": "RecordingGatewayUser", "Effect": "Allow", "Principal": ["AWS": userArn], "Action": actions,
                "Resource": resources(bucket),
            ])
        }
        if requireTLS {
            statements.append([
                "Sid": "DenyWithoutTLS", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resources(bucket),
                "Condition": ["Bool": ["aws:SecureTransport": "false"]],
            ])
        }
        return ["Version": "2012-10-17", "Statement": statements]
    }

    /// The bucket's lifecycle configuration (as `aws s3api put-bucket-lifecycle-configuration` takes it):
    /// abort incomplete multipart uploads, which the gateway cannot abort itself under least privilege, and
    /// expire `verify`'s probe objects, which it cannot delete either.
    public static func lifecycleConfiguration() -> [String: Any] {
        [
            "Rules": [
                [
                    "ID": "abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": ["Prefix": ""],
                    "AbortIncompleteMultipartUpload": ["DaysAfterInitiation": abortIncompleteAfterDays],
                ] as [String: Any],
                [
                    "ID": "expire-connection-check-probes", "Status": "Enabled", "Filter": ["Prefix": ConnectionCheck.probePrefix],
                    "Expiration": ["Days": 1],
                ],
            ]
        ]
    }

    /// Every document for `bucket`, keyed as `policy --json` prints them.
    public static func all(bucket: String, userArn: String?, requireTLS: Bool) -> [String: Any] {
        var documents: [String: Any] = [
            "bucket": bucket,
            "user_policy": userPolicy(bucket: bucket),
            "lifecycle_configuration": lifecycleConfiguration(),
        ]
        if userArn != nil || requireTLS {
            documents["bucket_policy"] = bucketPolicy(bucket: bucket, userArn: userArn, requireTLS: requireTLS)
        }
        return documents
    }

    /// The documents with a heading and a one-line instruction each, for a terminal.
    public static func text(bucket: String, userArn: String?, requireTLS: Bool) -> String {
        var sections = [
            "# IAM user policy (IAM → Users → the gateway's user → Add permissions → Create inline policy → JSON)\n"
                + AccountPresentation.json(userPolicy(bucket: bucket))
        ]
        if userArn != nil || requireTLS {
            sections.append(
                "# Bucket policy (S3 → \(bucket) → Permissions → Bucket policy)\n"
                    + AccountPresentation.json(bucketPolicy(bucket: bucket, userArn: userArn, requireTLS: requireTLS))
            )
        } else {
            sections.append("# Bucket policy: pass --user-arn (the IAM user's ARN) to print it, --require-tls to deny plain http")
        }
        sections.append(
            "# Lifecycle rule: aws s3api put-bucket-lifecycle-configuration --bucket \(bucket) --lifecycle-configuration file://lifecycle.json\n"
                + AccountPresentation.json(lifecycleConfiguration())
        )
        return sections.joined(separator: "\n\n")
    }
}
