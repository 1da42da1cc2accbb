import Foundation
import KazooWire
public import S3

/// What an operator gives to create or change an account; nil leaves a field as it is (on update)
/// or takes its default (on add). Validation names the field at fault.
public struct AccountInput: Sendable, Hashable {
    public var name: String?
    public var bucket: String?
    public var host: String?
    /// An empty string clears the region (read from the host again).
    public var region: String?
    public var scheme: S3Endpoint.Scheme?
    public var pathStyle: Bool?
    public var accessKeyId: String?
    public var secretAccessKey: String?
    public var keyPrefix: String?
    public var sse: Account.Encryption??
    public var kmsKeyId: String?
    public var storageClass: String?
    public var downloadMode: Account.DownloadMode?
    public var presignExpirySeconds: Int?
    public var enabled: Bool?

    public init() {}

    /// `--sse` / `"sse"`: AES256, aws:kms or none.
    public static func encryption(_ text: String) throws(AccountError) -> Account.Encryption? {
        switch text.lowercased() {
        case "none", "": return nil
        case "aes256": return .aes256
        case "aws:kms", "kms": return .kms
        default: throw AccountError.invalid(field: "sse", "must be AES256, aws:kms or none")
        }
    }

    /// The account after applying this input to `base` (a new account's defaults when nil).
    package func applied(to base: Account) throws(AccountError) -> Account {
        var account = base
        if let name { account.name = name.trimmingCharacters(in: .whitespacesAndNewlines) }
        if let bucket { account.bucket = bucket.trimmingCharacters(in: .whitespaces) }
        if let host { account.host = host.trimmingCharacters(in: .whitespaces) }
        if let region {
            let trimmed = region.trimmingCharacters(in: .whitespaces)
            account.region = trimmed.isEmpty ? nil : trimmed
        }
        if let scheme { account.scheme = scheme }
        if let pathStyle { account.pathStyle = pathStyle }
        if let accessKeyId { account.accessKeyId = accessKeyId.trimmingCharacters(in: .whitespaces) }
        if let keyPrefix { account.keyPrefix = Self.normalizedPrefix(keyPrefix) }
        if let sse { account.sse = sse }
        if let kmsKeyId {
            let trimmed = kmsKeyId.trimmingCharacters(in: .whitespaces)
            account.kmsKeyId = trimmed.isEmpty ? nil : trimmed
        }
        if let storageClass {
            let trimmed = storageClass.trimmingCharacters(in: .whitespaces)
            account.storageClass = trimmed.isEmpty ? nil : trimmed
        }
        if let downloadMode { account.downloadMode = downloadMode }
        if let presignExpirySeconds { account.presignExpirySeconds = presignExpirySeconds }
        if let enabled { account.enabled = enabled }
        try Self.validate(account)
        if let secretAccessKey { try Self.validateSecret(secretAccessKey) }
        return account
    }

    static func normalizedPrefix(_ prefix: String) -> String {
        var trimmed = prefix.trimmingCharacters(in: .whitespaces)
        while trimmed.hasPrefix("/") { trimmed.removeFirst() }
        if !trimmed.isEmpty && !trimmed.hasSuffix("/") { trimmed += "/" }
        return trimmed
    }

    static func validate(_ account: Account) throws(AccountError) {
        guard Account.isValidAccountId(account.accountId) else {
            throw .invalid(field: "account_id", "must be KAZOO's account id: 32 lowercase hexadecimal characters")
        }
        guard !account.name.isEmpty else { throw .invalid(field: "name", "is empty; give the customer's name") }
        guard account.name.count <= 200 else { throw .invalid(field: "name", "is longer than 200 characters") }
        guard !account.bucket.isEmpty else { throw .invalid(field: "bucket", "is empty; give the S3 bucket's name") }
        if let problem = BucketName.problem(with: account.bucket) { throw .invalid(field: "bucket", problem) }
        do {
            _ = try account.endpoint()
        } catch {
            switch error {
            case .invalidHost: throw .invalid(field: "host", error.description)
            case .invalidRegion: throw .invalid(field: "region", error.description)
            }
        }
        // AWS's are 16 to 128 letters and digits; other S3 stores (MinIO, rclone) allow shorter ones and '-', '_', '.'.
        guard (3...128).contains(account.accessKeyId.count),
            account.accessKeyId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw .invalid(field: "access_key_id", "must be 3 to 128 letters and digits (AWS's look like AKIAIOSFODNN7EXAMPLE)")
        }
        if !account.keyPrefix.isEmpty {
            do {
                _ = try ObjectKey.validated(String(account.keyPrefix.dropLast()))
            } catch {
                throw .invalid(field: "prefix", "\(error.message)")
            }
        }
        if account.kmsKeyId != nil && account.sse != .kms {
            throw .invalid(field: "kms_key_id", "is only used with --sse aws:kms")
        }
        if let storageClass = account.storageClass, !storageClass.allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "_") }) {
            throw .invalid(field: "storage_class", "must be an S3 storage class such as STANDARD, STANDARD_IA or GLACIER_IR")
        }
        if let expiry = account.presignExpirySeconds, !(1...604_800).contains(expiry) {
            throw .invalid(field: "presign_expiry_seconds", "must be from 1 to 604800 (7 days)")
        }
    }

    static func validateSecret(_ secret: String) throws(AccountError) {
        guard !secret.isEmpty else { throw .invalid(field: "secret_access_key", "is empty") }
        guard secret.count <= 256, secret.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
            throw .invalid(field: "secret_access_key", "must be printable ASCII without spaces (paste it exactly as AWS showed it)")
        }
    }
}

/// An account operation that was refused; the message names the field and never holds a secret.
public enum AccountError: OperatorFacingError, Sendable, Hashable {
    case invalid(field: String, String)
    case duplicate(String)
    case notFound(String)

    public var field: String? {
        if case .invalid(let field, _) = self { return field }
        return nil
    }

    public var description: String {
        switch self {
        case .invalid(let field, let message): "\(field) \(message)"
        case .duplicate(let id): "account_id \(id) already exists (use `accounts update` to change it)"
        case .notFound(let id): "no account \(id)"
        }
    }
}
