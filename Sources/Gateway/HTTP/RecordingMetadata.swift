import Foundation
import S3

/// The call metadata stored with a recording as `x-amz-meta-*`: the `record_call` query fields KAZOO
/// sends (KAZOO.md) and the scalar fields of a multipart body's JSON document.
/// S3 allows 2 KB of user metadata per object; fields beyond that are left out, query fields first in.
enum RecordingMetadata {
    static let queryFields = [
        "call_id", "from", "to", "caller_id_name", "caller_id_number", "cdr_id", "interaction_id",
        "owner_id", "account_id", "start", "duration_ms", "recording_id", "recording",
    ]
    static let limitBytes = 2048

    static func build(query: [(name: String, value: String)], json: Data?) -> [String: String] {
        var metadata: [String: String] = [:]
        var used = 0
        func add(_ name: String, _ value: String) {
            let key = name.lowercased()
            guard metadata[key] == nil else { return }
            let cost = key.utf8.count + value.utf8.count
            guard used + cost <= limitBytes - 64 else { return }
            metadata[key] = value
            used += cost
        }
        for field in queryFields {
            if let value = query.first(where: { $0.name == field })?.value { add(field, value) }
        }
        if let json, let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] {
            for name in object.keys.sorted() where !name.hasPrefix("pvt_") && !name.hasPrefix("_") {
                switch object[name] {
                case let text as String: add(name, text)
                case let number as NSNumber: add(name, number.stringValue)
                default: break
                }
            }
        }
        return metadata
    }

    /// `application/x-www-form-urlencoded`-style query pairs, each decoded once (`+` is a space).
    static func queryPairs(_ query: String?) -> [(name: String, value: String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? {
                text.utf8.contains(UInt8(ascii: "+")) ? URIEncoding.decode(String(text.map { $0 == "+" ? " " : $0 })) : URIEncoding.decode(text)
            }
            guard let name = decode(parts[0]), !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
        }
    }
}
