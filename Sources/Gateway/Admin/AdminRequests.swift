import Foundation
import Hummingbird
import S3

/// `POST /api/accounts`: the KAZOO account id and the account's fields (see `AccountFields`).
package struct NewAccountRequest: Decodable {
    package var accountId: String
    package var input: AccountInput

    package init(from decoder: any Decoder) throws {
        let fields = try AccountFields(from: decoder, also: ["account_id"])
        guard let accountId = try fields.string("account_id") else {
            throw AccountError.invalid(field: "account_id", "is required (KAZOO's 32-character account id)")
        }
        self.accountId = accountId
        input = try fields.input()
    }
}

/// `PATCH /api/accounts/ID`: the fields to change; absent ones stay.
package struct AccountChangeRequest: Decodable {
    package var input: AccountInput

    package init(from decoder: any Decoder) throws {
        input = try AccountFields(from: decoder, also: []).input()
    }
}

/// `POST /api/queue/retry`: exactly one of a row id, an account id or `all: true`.
package struct QueueRetryRequest: Decodable {
    package var id: Int64?
    package var accountId: String?

    enum CodingKeys: String, CodingKey {
        case id
        case accountId = "account_id"
        case all
    }

    package init(from decoder: any Decoder) throws {
        let container = try AccountFields.object(decoder, keyedBy: CodingKeys.self)
        id = try? container.decodeIfPresent(Int64.self, forKey: .id)
        accountId = try? container.decodeIfPresent(String.self, forKey: .accountId)
        let all = (try? container.decodeIfPresent(Bool.self, forKey: .all)) == true
        guard [id != nil, accountId != nil, all].filter({ $0 }).count == 1 else {
            throw AccountError.invalid(field: "body", "give exactly one of id, account_id or all: true")
        }
    }
}

/// An account's fields in a JSON object: an unknown field or a value of the wrong type is refused
/// naming the field, exactly as the command line names its options' fields. `null` is the same as absent.
struct AccountFields {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let names: Set<String> = [
        "name", "bucket", "host", "region", "scheme", "path_style", "access_key_id", "secret_access_key", "key_prefix", "sse",
        "kms_key_id", "storage_class", "download_mode", "presign_expiry_seconds", "enabled",
    ]

    let container: KeyedDecodingContainer<Key>

    init(from decoder: any Decoder, also extra: Set<String>) throws {
        container = try Self.object(decoder, keyedBy: Key.self)
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !Self.names.contains($0) && !extra.contains($0) }) {
            throw AccountError.invalid(field: unknown, "is not an account field")
        }
    }

    /// The body's top level as an object, or the refusal every admin call gives for anything else.
    static func object<K: CodingKey>(_ decoder: any Decoder, keyedBy: K.Type) throws -> KeyedDecodingContainer<K> {
        do {
            return try decoder.container(keyedBy: K.self)
        } catch {
            throw AccountError.invalid(field: "body", "must be one JSON object")
        }
    }

    func value<T: Decodable>(_ name: String, _ type: T.Type, _ problem: String) throws -> T? {
        let key = Key(stringValue: name)
        guard container.contains(key), (try? container.decodeNil(forKey: key)) == false else { return nil }
        guard let value = try? container.decode(T.self, forKey: key) else { throw AccountError.invalid(field: name, problem) }
        return value
    }

    func string(_ name: String) throws -> String? { try value(name, String.self, "must be a string") }
    func bool(_ name: String) throws -> Bool? { try value(name, Bool.self, "must be true or false") }

    func input() throws -> AccountInput {
        var input = AccountInput()
        input.name = try string("name")
        input.bucket = try string("bucket")
        input.host = try string("host")
        input.region = try string("region")
        if let scheme = try string("scheme") {
            guard let parsed = S3Endpoint.Scheme(rawValue: scheme) else { throw AccountError.invalid(field: "scheme", "must be https or http") }
            input.scheme = parsed
        }
        input.pathStyle = try bool("path_style")
        input.accessKeyId = try string("access_key_id")
        input.secretAccessKey = try string("secret_access_key")
        input.keyPrefix = try string("key_prefix")
        if let sse = try string("sse") { input.sse = .some(try AccountInput.encryption(sse)) }
        input.kmsKeyId = try string("kms_key_id")
        input.storageClass = try string("storage_class")
        if let mode = try string("download_mode") {
            guard let parsed = Account.DownloadMode(rawValue: mode) else {
                throw AccountError.invalid(field: "download_mode", "must be redirect or proxy")
            }
            input.downloadMode = parsed
        }
        input.presignExpirySeconds = try value("presign_expiry_seconds", Int.self, "must be a whole number")
        input.enabled = try bool("enabled")
        return input
    }
}

extension Request {
    /// The request's JSON body (at most 64 KiB) as `T`; anything that is not JSON is refused as the body.
    func decodeAdminBody<T: Decodable>(as type: T.Type) async throws -> T {
        let body = try await self.body.collect(upTo: 64 * 1024)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch let error as AccountError {
            throw error
        } catch {
            throw AccountError.invalid(field: "body", "must be one JSON object")
        }
    }
}
