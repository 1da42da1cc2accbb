import Foundation
import Testing

@testable import Gateway

/// The store's answer, written without `JSONSerialization`: the same text it wrote for ordinary keys, and
/// JSON that reads back to the same values for any key (quotes, backslashes, control characters, non-ASCII).
struct JSONResponseTests {
    static func serialized(_ key: String, _ size: Int, _ checksum: String, _ etag: String) throws -> String {
        let object: [String: Any] = ["stored": ["key": key, "size": size, "checksum": checksum, "etag": etag]]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    @Test(arguments: [
        "4a9b2c3d/2026/12/call-5e1f.mp3", "a b/ü é/日本.wav", #"quote " and back\slash"#, "tab\tnew\nline\rcr", "\u{1}\u{1f}\u{7f}",
        "",
    ])
    func theStoredAnswerIsTheJSONOfItsValues(key: String) throws {
        let etag = #""9b2cf535f27731c974343645a3985328""#
        let text = JSONResponse.storedJSON(key: key, size: 1_048_576, checksum: "sha256:00ff", etag: etag)
        let read = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [String: Any]])
        #expect(read["stored"]?["key"] as? String == key)
        #expect(read["stored"]?["etag"] as? String == etag)
        #expect(read["stored"]?["checksum"] as? String == "sha256:00ff")
        #expect(read["stored"]?["size"] as? Int == 1_048_576)
        if key.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0 != "\\" }) {
            #expect(text == (try Self.serialized(key, 1_048_576, "sha256:00ff", etag)))
        }
    }
}
