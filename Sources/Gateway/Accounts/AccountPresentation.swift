import Foundation

/// How accounts are shown to operators: text lines, JSON objects, the storage URL and the KAZOO
/// storage document to paste. Nothing here has a secret key or a token hash to show.
public enum AccountPresentation {
    /// `<public base URL>/k/<token>`: the URL KAZOO stores to.
    public static func storageURL(publicBaseURL: String, token: String) -> String {
        IssuedAccountView.storageURL(publicBaseURL: publicBaseURL, token: token)
    }

    /// The storage document (see `StorageDocument`) as a JSON object.
    public static func storageDocument(accountId: String, storageURL: String) -> [String: Any] {
        JSONObject.dictionary(StorageDocument(accountId: accountId, storageURL: storageURL))
    }

    /// A newly issued token as a JSON object (see `IssuedAccountView`).
    public static func issued(_ account: Account, token: String, publicBaseURL: String) -> [String: Any] {
        JSONObject.dictionary(IssuedAccountView(account, token: token, publicBaseURL: publicBaseURL))
    }

    public static func json(_ object: Any) -> String { JSONObject.text(object) }

    /// The account as a JSON object (see `AccountView`: no secret, no token hash).
    public static func object(_ account: Account) -> [String: Any] { JSONObject.dictionary(AccountView(account)) }

    /// Aligned `name: value` lines.
    public static func text(_ account: Account) -> String {
        let region = account.region ?? "(from host: \((try? account.endpoint().region) ?? "?"))"
        let rows: [(String, String)] = [
            ("account id", account.accountId),
            ("name", account.name),
            ("bucket", account.bucket),
            ("host", "\(account.scheme.rawValue)://\(account.host) (\(account.pathStyle ? "path-style" : "virtual-hosted"))"),
            ("region", region),
            ("access key id", account.accessKeyId),
            ("secret access key", "(sealed; never shown)"),
            ("key prefix", account.keyPrefix.isEmpty ? "(none)" : account.keyPrefix),
            ("encryption", account.sse.map { $0.rawValue + (account.kmsKeyId.map { " key \($0)" } ?? "") } ?? "(bucket default)"),
            ("storage class", account.storageClass ?? "(bucket default)"),
            ("downloads", account.downloadMode.rawValue),
            ("presign expiry", account.presignExpirySeconds.map { "\($0) s" } ?? "(gateway default)"),
            ("enabled", account.enabled ? "yes" : "no"),
            ("created", ISO8601DateFormatter().string(from: account.createdAt)),
            ("updated", ISO8601DateFormatter().string(from: account.updatedAt)),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}
