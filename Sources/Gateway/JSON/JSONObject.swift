import Foundation

/// JSON for people and for `JSONSerialization`'s dictionaries (the command line's `--json`).
public enum JSONObject {
    /// An encodable value as a dictionary (empty if it is not an object).
    static func dictionary(_ value: some Encodable) -> [String: Any] {
        guard let data = try? JSONEncoder().encode(value), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return [:]
        }
        return object
    }

    /// Pretty, sorted JSON text.
    public static func text(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
