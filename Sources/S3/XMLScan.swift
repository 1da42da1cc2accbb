/// Reads the few flat XML documents S3 answers with (errors, CreateMultipartUpload,
/// CompleteMultipartUpload, ListObjectsV2) without an XML parser: elements are found by name.
enum XMLScan {
    /// The text between `<name>` (or `<name attr…>`) and `</name>`, the first at any depth.
    static func element(_ name: String, in text: Substring) -> Substring? {
        elements(name, in: text, limit: 1).first
    }

    /// Every `<name>…</name>` in order, not nested in one another.
    static func elements(_ name: String, in text: Substring, limit: Int = .max) -> [Substring] {
        var found: [Substring] = []
        var searchStart = text.startIndex
        while found.count < limit, let open = text[searchStart...].firstRange(of: "<" + name) {
            guard let close = text[open.upperBound...].firstIndex(of: ">") else { break }
            guard open.upperBound < text.endIndex else { break }
            let next = text[open.upperBound]
            if next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r" || next == "/" {
                let contentStart = text.index(after: close)
                if text[open.upperBound..<close].hasSuffix("/") {
                    found.append(text[contentStart..<contentStart])
                    searchStart = contentStart
                    continue
                }
                guard let end = text[contentStart...].firstRange(of: "</" + name + ">") else { break }
                found.append(text[contentStart..<end.lowerBound])
                searchStart = end.upperBound
            } else {
                searchStart = open.upperBound
            }
        }
        return found
    }

    /// The text of an element with XML entities decoded.
    static func string(_ name: String, in text: Substring) -> String? {
        element(name, in: text).map(unescape)
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var result = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            result += rest[..<amp]
            // An '&' without a ';' after it is text (the fuzzer found the text before it written twice here).
            guard let semi = rest[amp...].firstIndex(of: ";") else { return result + rest[amp...] }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": result += "&"
            case "lt": result += "<"
            case "gt": result += ">"
            case "quot": result += "\""
            case "apos": result += "'"
            default:
                if entity.hasPrefix("#x"), let value = UInt32(entity.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(value) {
                    result.unicodeScalars.append(scalar)
                } else if entity.hasPrefix("#"), let value = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(value) {
                    result.unicodeScalars.append(scalar)
                } else {
                    result += rest[amp...semi]
                }
            }
            rest = rest[rest.index(after: semi)...]
        }
        return result + rest
    }
}
