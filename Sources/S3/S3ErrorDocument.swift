/// The fields of S3's XML error document (`<Error><Code>…</Code><Message>…</Message>…</Error>`,
/// "Error responses" in the Amazon S3 API reference). S3 error documents are flat, so a small scanner
/// reads them; no XML parser is needed.
public struct S3ErrorDocument: Sendable, Hashable {
    public var code: String
    public var message: String
    public var requestId: String?
    /// The bucket's real region, in `AuthorizationHeaderMalformed` and `PermanentRedirect` answers.
    public var region: String?
    /// The server's clock, in `RequestTimeTooSkewed` answers.
    public var serverTime: String?

    /// Reads an error document; nil when `body` is not one (a 200 with a real result, or an empty body).
    public init?(_ body: some Collection<UInt8>) {
        let text = String(decoding: body, as: UTF8.self)
        guard let inner = Self.element("Error", in: Substring(text)), let code = Self.element("Code", in: inner) else { return nil }
        self.code = Self.unescape(code)
        self.message = Self.element("Message", in: inner).map(Self.unescape) ?? ""
        self.requestId = Self.element("RequestId", in: inner).map(Self.unescape)
        self.region = Self.element("Region", in: inner).map(Self.unescape)
        self.serverTime = Self.element("ServerTime", in: inner).map(Self.unescape)
    }

    public init(code: String, message: String, requestId: String? = nil, region: String? = nil, serverTime: String? = nil) {
        self.code = code
        self.message = message
        self.requestId = requestId
        self.region = region
        self.serverTime = serverTime
    }

    /// The text between `<name>` (or `<name attr…>`) and `</name>`, at any depth.
    static func element(_ name: String, in text: Substring) -> Substring? {
        var searchStart = text.startIndex
        while let open = text[searchStart...].range(of: "<" + name) {
            guard let close = text[open.upperBound...].firstIndex(of: ">") else { return nil }
            let next = text[open.upperBound]
            if next == ">" || next == " " || next == "\t" || next == "\n" || next == "\r" {
                let contentStart = text.index(after: close)
                if text[open.upperBound..<close].hasSuffix("/") { return text[contentStart..<contentStart] }
                guard let end = text[contentStart...].range(of: "</" + name + ">") else { return nil }
                return text[contentStart..<end.lowerBound]
            }
            searchStart = open.upperBound
        }
        return nil
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var result = ""
        var rest = text
        while let amp = rest.firstIndex(of: "&") {
            result += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else {
                rest = rest[amp...]
                break
            }
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

extension Substring {
    fileprivate func range(of needle: String) -> Range<Index>? {
        guard let first = needle.first else { return nil }
        var index = startIndex
        while let candidate = self[index...].firstIndex(of: first) {
            if self[candidate...].hasPrefix(needle) {
                return candidate..<self.index(candidate, offsetBy: needle.count)
            }
            index = self.index(after: candidate)
        }
        return nil
    }
}
