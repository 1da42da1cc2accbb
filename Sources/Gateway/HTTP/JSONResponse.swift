import Foundation
import Hummingbird

/// A small JSON answer (errors, store confirmations, health), keys sorted, length given.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ object: [String: Any], noStore: Bool = true) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", .contentLength: "\(data.count)"]
        if noStore { headers[.cacheControl] = "no-store" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The answer to a store S3 took, written directly: every store sends one, and building it through
    /// `JSONSerialization` (a dictionary of `Any`, its keys sorted as `AnyHashable`) was about 3.5% of the
    /// gateway's CPU per 1 MiB store. The same JSON, keys in the same (sorted) order.
    static func stored(key: String, size: Int, checksum: String, etag: String) -> Response {
        let text = storedJSON(key: key, size: size, checksum: checksum, etag: etag)
        let headers: HTTPFields = [.contentType: "application/json", .contentLength: "\(text.utf8.count)"]
        return Response(status: .created, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func storedJSON(key: String, size: Int, checksum: String, etag: String) -> String {
        var text = #"{"stored":{"checksum":"#
        text.reserveCapacity(64 + key.utf8.count + checksum.utf8.count + etag.utf8.count)
        appendQuoted(checksum, to: &text)
        text += #","etag":"#
        appendQuoted(etag, to: &text)
        text += #","key":"#
        appendQuoted(key, to: &text)
        text += #","size":\#(size)}}"#
        return text
    }

    /// `value` as a JSON string: quotes, backslashes and control characters escaped, nothing else.
    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        defer { text += "\"" }
        // Most values need no escaping: appended whole, not scalar by scalar.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            text += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
    }
}
