/// Object keys from request paths: each segment percent-decoded once, and refused when it could make
/// two different requests write one object, escape the account's prefix, or upset S3 or a file system
/// holding a copy: empty segments, `.` and `..`, encoded slashes, control characters, invalid UTF-8,
/// or more than 1024 bytes (S3's limit).
public enum ObjectKey {
    public static let maximumBytes = 1024

    /// The decoded segments of a raw request path (the part after the token, without leading `/`).
    public static func segments(ofRawPath raw: Substring) throws(ObjectKeyError) -> [String] {
        guard !raw.isEmpty else { throw ObjectKeyError("the path after the token is empty: it names the recording") }
        var segments: [String] = []
        for rawSegment in raw.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let decoded: String
            if rawSegment.contains(UInt8(ascii: "%")) {
                guard let text = PercentDecoding.decode(rawSegment) else {
                    throw ObjectKeyError("the path has a malformed %-escape or is not UTF-8")
                }
                guard !text.utf8.contains(UInt8(ascii: "/")) else { throw ObjectKeyError("a path segment cannot hold an encoded '/' (%2F)") }
                decoded = text
            } else {
                guard let text = String(validating: rawSegment, as: UTF8.self) else {
                    throw ObjectKeyError("the path has a malformed %-escape or is not UTF-8")
                }
                decoded = text
            }
            try check(segment: decoded)
            segments.append(decoded)
        }
        return segments
    }

    /// Checks a decoded key (or prefix) segment by segment.
    public static func validated(_ key: String) throws(ObjectKeyError) -> String {
        guard key.utf8.count <= maximumBytes else { throw ObjectKeyError("the object key would be longer than 1024 bytes") }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) { try check(segment: segment) }
        return key
    }

    /// `prefix` + the joined segments, within S3's length limit.
    public static func key(prefix: String, segments: [String]) throws(ObjectKeyError) -> String {
        let key = prefix + segments.joined(separator: "/")
        guard key.utf8.count <= maximumBytes else { throw ObjectKeyError("the object key would be longer than 1024 bytes") }
        return key
    }

    static func check(segment: some StringProtocol) throws(ObjectKeyError) {
        let bytes = segment.utf8
        guard !bytes.isEmpty else { throw ObjectKeyError("the path has an empty segment ('//' or a trailing '/')") }
        guard !bytes.elementsEqual(".".utf8), !bytes.elementsEqual("..".utf8) else {
            throw ObjectKeyError("the path cannot contain '.' or '..' segments")
        }
        // C0 controls and DEL are single bytes; C1 controls (U+0080...U+009F) are 0xC2 0x80...0x9F in UTF-8.
        var previous: UInt8 = 0
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F || (previous == 0xC2 && (0x80...0x9F).contains(byte)) {
                throw ObjectKeyError("the path cannot contain control characters")
            }
            previous = byte
        }
    }
}

/// Why a path cannot name an object; safe to show the client.
public struct ObjectKeyError: Error, Sendable, Hashable {
    public let message: String
    init(_ message: String) { self.message = message }
}
