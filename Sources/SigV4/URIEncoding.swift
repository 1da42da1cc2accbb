/// Percent-encoding as SigV4 defines it ("UriEncode" in AWS's SigV4 documentation):
/// every byte except the unreserved `A-Z a-z 0-9 - . _ ~` becomes `%XY` with uppercase hex,
/// a space is always `%20` (never `+`), and `/` is kept only in paths.
public enum URIEncoding {
    /// Encodes an S3 object path (or any path) once; `/` is kept.
    public static func path(_ raw: some StringProtocol) -> String {
        var buffer = ScratchBuffer(capacity: raw.utf8.count * 3)
        buffer.appendEncoded(String(raw), keepSlash: true)
        return buffer.string(0..<buffer.count)
    }

    /// Encodes a query name or value (or a path segment): `/` becomes `%2F`.
    public static func component(_ raw: some StringProtocol) -> String {
        var buffer = ScratchBuffer(capacity: raw.utf8.count * 3)
        buffer.appendEncoded(String(raw), keepSlash: false)
        return buffer.string(0..<buffer.count)
    }

    /// Encodes query items in the order given (`name=value&...`, `name=` for an empty value).
    public static func query(_ items: [QueryItem]) -> String {
        var buffer = ScratchBuffer(capacity: 256)
        var query = EncodedQuery(capacity: items.count)
        for item in items { query.append(name: item.name, value: item.value, into: &buffer) }
        return buffer.string(query.write(into: &buffer))
    }

    /// Decodes `%XY` sequences; `+` is left alone (it is a plus sign in a path and in SigV4 queries).
    /// Returns nil when a `%` is not followed by two hex digits or the result is not UTF-8.
    public static func decode(_ encoded: some StringProtocol) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(encoded.utf8.count)
        var iterator = encoded.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                out.append(high << 4 | low)
            } else {
                out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// `A-Z a-z 0-9 - . _ ~` as a 128-bit set: bit `b` of the pair is set when byte `b` is unreserved.
    private static let unreservedLow: UInt64 = 0x03FF_6000_0000_0000  // '-' '.' '0'...'9'
    private static let unreservedHigh: UInt64 = 0x47FF_FFFE_87FF_FFFE  // 'A'...'Z' '_' 'a'...'z' '~'

    @inline(__always)
    static func isUnreserved(_ byte: UInt8) -> Bool {
        if byte < 64 { return (unreservedLow >> UInt64(byte)) & 1 == 1 }
        if byte < 128 { return (unreservedHigh >> UInt64(byte &- 64)) & 1 == 1 }
        return false
    }

    private static let upperDigits: StaticString = "0123456789ABCDEF"
    private static let lowerDigits: StaticString = "0123456789abcdef"

    @inline(__always)
    static func upperHex(_ nibble: UInt8) -> UInt8 {
        upperDigits.utf8Start[Int(nibble & 0x0F)]
    }

    @inline(__always)
    static func lowerHex(_ nibble: UInt8) -> UInt8 {
        lowerDigits.utf8Start[Int(nibble & 0x0F)]
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// One query parameter, not encoded. SigV4 encodes names and values itself.
public struct QueryItem: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String = "") {
        self.name = name
        self.value = value
    }
}

/// One request header as sent; repeated names are kept in order.
public struct HeaderField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}
