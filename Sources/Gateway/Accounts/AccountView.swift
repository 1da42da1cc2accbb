import Foundation

/// An account as operators see it in JSON (the command line's `--json`, the admin API): no secret,
/// no token hash. Absent optional settings are `null`, not missing.
public struct AccountView: Encodable, Sendable, Hashable {
    public var accountId: String
    public var name: String
    public var bucket: String
    public var host: String
    public var scheme: String
    public var pathStyle: Bool
    public var accessKeyId: String
    public var prefix: String
    public var download: String
    public var enabled: Bool
    public var createdAt: String
    public var updatedAt: String
    @ExplicitNull public var region: String?
    @ExplicitNull public var effectiveRegion: String?
    @ExplicitNull public var sse: String?
    @ExplicitNull public var kmsKeyId: String?
    @ExplicitNull public var storageClass: String?
    @ExplicitNull public var presignExpirySeconds: Int?

    public init(_ account: Account) {
        let formatter = ISO8601DateFormatter()
        accountId = account.accountId
        name = account.name
        bucket = account.bucket
        host = account.host
        scheme = account.scheme.rawValue
        pathStyle = account.pathStyle
        accessKeyId = account.accessKeyId
        prefix = account.keyPrefix
        download = account.downloadMode.rawValue
        enabled = account.enabled
        createdAt = formatter.string(from: account.createdAt)
        updatedAt = formatter.string(from: account.updatedAt)
        region = account.region
        effectiveRegion = try? account.endpoint().region
        sse = account.sse?.rawValue
        kmsKeyId = account.kmsKeyId
        storageClass = account.storageClass
        presignExpirySeconds = account.presignExpirySeconds
    }

    enum CodingKeys: String, CodingKey {
        case accountId = "account_id"
        case name, bucket, host, scheme
        case pathStyle = "path_style"
        case accessKeyId = "access_key_id"
        case prefix,
            download, enabled
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case region
        case effectiveRegion = "effective_region"
        case sse
        case
            kmsKeyId = "kms_key_id"
        case storageClass = "storage_class"
        case presignExpirySeconds = "presign_expiry_seconds"
    }
}

/// A newly issued token as the command line's `--json` and the admin API answer it: the account,
/// the token, its storage URL and the storage document (the only time the token is shown).
public struct IssuedAccountView: Encodable, Sendable {
    public var accountId: String
    public var account: AccountView
    public var token: String
    public var storageURL: String
    public var storageDocument: StorageDocument

    public init(_ account: Account, token: String, publicBaseURL: String) {
        let url = Self.storageURL(publicBaseURL: publicBaseURL, token: token)
        accountId = account.accountId
        self.account = AccountView(account)
        self.token = token
        storageURL = url
        storageDocument = StorageDocument(accountId: account.accountId, storageURL: url)
    }

    /// `<public base URL>/k/<token>`: the URL KAZOO stores to.
    public static func storageURL(publicBaseURL: String, token: String) -> String {
        var base = publicBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/k/" + token
    }

    enum CodingKeys: String, CodingKey {
        case accountId = "account_id"
        case account, token
        case storageURL = "storage_url"
        case storageDocument = "storage_document"
    }
}
