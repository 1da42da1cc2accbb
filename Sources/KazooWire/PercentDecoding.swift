/// Percent-decoding of one path segment as KAZOO's URLs carry it (RFC 3986 §2.1): `%XX` becomes the
/// byte XX, everything else is kept; the result must be UTF-8. `+` is not a space in a path.
enum PercentDecoding {
    static func decode(_ raw: some Collection<UInt8>) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            index = raw.index(after: index)
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard index != raw.endIndex, let high = hexDigit(raw[index]) else { return nil }
            index = raw.index(after: index)
            guard index != raw.endIndex, let low = hexDigit(raw[index]) else { return nil }
            index = raw.index(after: index)
            bytes.append(high &* 16 &+ low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
