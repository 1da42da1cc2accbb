import Crypto
import Foundation
import S3

/// The body of `PUT /v2/accounts/{account_id}/storage` that sends the account's call recordings to the
/// gateway (KAZOO.md): one `http` attachment handler, verb `put`, raw bodies, and the `call_recording`
/// plan pointing at it. The handler id is derived from the account id, so the document is the same
/// each time it is printed.
public struct StorageDocument: Encodable, Sendable, Hashable {
    public let handlerId: String
    public let storageURL: String

    public init(accountId: String, storageURL: String) {
        handlerId = String(ObjectChecksum.hex(SHA256.hash(data: Data("recording-gateway:\(accountId)".utf8))).prefix(32))
        self.storageURL = storageURL
    }

    struct Settings: Encodable {
        let url: String
        let verb = "put"
        let sendMultipart = false
        let fieldSeparator = "/"
        enum CodingKeys: String, CodingKey {
            case url, verb
            case sendMultipart = "send_multipart"
            case fieldSeparator = "field_separator"
        }
    }

    struct Handler: Encodable {
        let handler = "http"
        let name = "Recording gateway"
        let settings: Settings
    }

    struct Plan: Encodable {
        let modb: [String: [String: [String: [String: String]]]]
    }

    struct DocumentData: Encodable {
        let attachments: [String: Handler]
        let plan: Plan
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TopKey.self)
        try container.encode(
            DocumentData(
                attachments: [handlerId: Handler(settings: Settings(url: storageURL))],
                plan: Plan(modb: ["types": ["call_recording": ["attachments": ["handler": handlerId]]]])
            ),
            forKey: .data
        )
    }

    enum TopKey: String, CodingKey { case data }
}
