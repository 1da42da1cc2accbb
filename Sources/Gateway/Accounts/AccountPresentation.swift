import Crypto
import Foundation
import S3

/// How accounts are shown to operators: text lines, JSON objects, the storage URL and the KAZOO
/// storage document to paste. Nothing here has a secret key or a token hash to show.
public enum AccountPresentation {
    /// `<public base URL>/k/<token>`: the URL KAZOO stores to.
    public static func storageURL(publicBaseURL: String, token: String) -> String {
        var base = publicBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/k/" + token
    }

    /// The body of `PUT /v2/accounts/{account_id}/storage` that sends the account's call recordings
    /// to the gateway (KAZOO.md): one `http` attachment handler, verb `put`, raw bodies, and the
    /// `call_recording` plan pointing at it. The handler id is derived from the account id, so the
    /// document is the same each time it is printed.
    public static func storageDocument(accountId: String, storageURL: String) -> [String: Any] {
        let handlerId = String(ObjectChecksum.hex(SHA256.hash(data: Data("recording-gateway:\(accountId)".utf8))).prefix(32))
        return [
            "data": [
                "attachments": [
                    handlerId: [
                        "handler": "http",
                        "name": "Recording gateway",
                        "settings": [
                            "url": storageURL,
                            "verb": "put",
                            "send_multipart": false,
                            "field_separator": "/",
                        ] as [String: Any],
                    ] as [String: Any]
                ],
                "plan": [
                    "modb": ["types": ["call_recording": ["attachments": ["handler": handlerId]]]]
                ],
            ] as [String: Any]
        ]
    }

    /// A newly issued token as the command line's `--json` and the admin API answer it: the account,
    /// the token, its storage URL and the storage document (the only time the token is shown).
    public static func issued(_ account: Account, token: String, publicBaseURL: String) -> [String: Any] {
        let url = storageURL(publicBaseURL: publicBaseURL, token: token)
        return [
            "account_id": account.accountId, "account": object(account), "token": token, "storage_url": url,
            "storage_document": storageDocument(accountId: account.accountId, storageURL: url),
        ]
    }

    public static func json(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The account as a JSON object (no secret, no token hash).
    public static func object(_ account: Account) -> [String: Any] {
        let formatter = ISO8601DateFormatter()
        var object: [String: Any] = [
            "account_id": account.accountId,
            "name": account.name,
            "bucket": account.bucket,
            "host": account.host,
            "scheme": account.scheme.rawValue,
            "path_style": account.pathStyle,
            "access_key_id": account.accessKeyId,
            "prefix": account.keyPrefix,
            "download": account.downloadMode.rawValue,
            "enabled": account.enabled,
            "created_at": formatter.string(from: account.createdAt),
            "updated_at": formatter.string(from: account.updatedAt),
        ]
        object["region"] = account.region ?? NSNull()
        object["effective_region"] = (try? account.endpoint().region) ?? NSNull()
        object["sse"] = account.sse?.rawValue ?? NSNull()
        object["kms_key_id"] = account.kmsKeyId ?? NSNull()
        object["storage_class"] = account.storageClass ?? NSNull()
        object["presign_expiry_seconds"] = account.presignExpirySeconds ?? NSNull()
        return object
    }

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
