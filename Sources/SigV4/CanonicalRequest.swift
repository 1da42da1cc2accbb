/// Builders for the parts of a SigV4 canonical request, writing bytes into caller-owned buffers
/// so that one signing allocates a handful of buffers and no intermediate strings.
enum CanonicalRequest {
    /// Header names that are never signed: proxies and clients change or drop them on the way.
    static func isUnsignable(_ lowercasedName: String) -> Bool {
        switch lowercasedName {
        case "user-agent", "expect", "transfer-encoding", "connection", "authorization", "x-amzn-trace-id":
            true
        default:
            false
        }
    }

    /// Headers the signer sets itself; a caller's copy of them is ignored.
    static func isSetBySigner(_ lowercasedName: String) -> Bool {
        switch lowercasedName {
        case "host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "x-amz-signature":
            true
        default:
            false
        }
    }

    /// Writes the canonical headers block (each `name:value\n`) into `canonical` and the
    /// `;`-joined signed header names into `signedNames`.
    ///
    /// Names are lowercased and sorted by byte; repeated headers are joined with `,` in the order sent;
    /// values are trimmed and inner runs of whitespace become one space.
    static func writeHeaders(
        host: String,
        headers: [HeaderField],
        extra: [HeaderField],
        canonical: inout [UInt8],
        signedNames: inout [UInt8]
    ) {
        if headers.isEmpty && extra.isEmpty {
            append(name: "host", canonical: &canonical, signedNames: &signedNames)
            appendTrimmed(host.utf8, to: &canonical)
            canonical.append(UInt8(ascii: "\n"))
            return
        }
        var entries: [(name: String, value: String, order: Int)] = []
        entries.reserveCapacity(headers.count + extra.count + 1)
        entries.append(("host", host, 0))
        for (index, field) in headers.enumerated() {
            let name = field.name.lowercased()
            if isUnsignable(name) || isSetBySigner(name) { continue }
            entries.append((name, field.value, index + 1))
        }
        for (index, field) in extra.enumerated() {
            entries.append((field.name, field.value, headers.count + index + 1))
        }
        entries.sort { lhs, rhs in
            if lhs.name == rhs.name { return lhs.order < rhs.order }
            return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
        }
        var previous: String?
        for entry in entries {
            if entry.name == previous {
                canonical.removeLast()  // the newline after the previous value
                canonical.append(UInt8(ascii: ","))
            } else {
                append(name: entry.name, canonical: &canonical, signedNames: &signedNames)
                previous = entry.name
            }
            appendTrimmed(entry.value.utf8, to: &canonical)
            canonical.append(UInt8(ascii: "\n"))
        }
    }

    @inline(__always)
    private static func append(name: String, canonical: inout [UInt8], signedNames: inout [UInt8]) {
        if !signedNames.isEmpty { signedNames.append(UInt8(ascii: ";")) }
        signedNames.append(contentsOf: name.utf8)
        canonical.append(contentsOf: name.utf8)
        canonical.append(UInt8(ascii: ":"))
    }

    /// Appends a header value with leading and trailing whitespace removed and inner runs collapsed.
    static func appendTrimmed(_ value: String.UTF8View, to buffer: inout [UInt8]) {
        var pendingSpace = false
        var started = false
        for byte in value {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                pendingSpace = started
            default:
                if pendingSpace { buffer.append(UInt8(ascii: " ")) }
                pendingSpace = false
                started = true
                buffer.append(byte)
            }
        }
    }

    /// Writes the canonical URI of `path` under `rule`.
    static func writePath(_ path: String, rule: PathRule, to buffer: inout [UInt8]) {
        switch rule {
        case .s3:
            if path.isEmpty { buffer.append(UInt8(ascii: "/")) }
            URIEncoding.appendPath(path.utf8, to: &buffer)
        case .normalized:
            URIEncoding.appendPath(normalize(path).utf8, to: &buffer)
        }
    }

    /// Removes empty, `.` and `..` segments (RFC 3986 section 5.2.4 plus collapsing `//`).
    static func normalize(_ path: String) -> String {
        var segments: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        for part in parts {
            switch part {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(part)
            }
        }
        var result = "/" + segments.joined(separator: "/")
        let endsWithDirectory = path.hasSuffix("/") || parts.last == "." || parts.last == ".."
        if endsWithDirectory && !segments.isEmpty { result += "/" }
        return result
    }
}

/// Query parameters encoded once into one buffer, kept in the order given and sortable for the canonical form.
struct EncodedQuery {
    var bytes: [UInt8] = []
    var pairs: [(name: Range<Int>, value: Range<Int>)] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
        pairs.reserveCapacity(8)
    }

    mutating func append(_ name: String, _ value: some Sequence<UInt8>) {
        let nameStart = bytes.count
        URIEncoding.appendComponent(name.utf8, to: &bytes)
        let valueStart = bytes.count
        URIEncoding.appendComponent(value, to: &bytes)
        pairs.append((nameStart..<valueStart, valueStart..<bytes.count))
    }

    /// `name=value&...` sorted by encoded name, then value, as the canonical request wants.
    func writeCanonical(to buffer: inout [UInt8]) {
        let order = pairs.indices.sorted { a, b in
            let lhs = pairs[a]
            let rhs = pairs[b]
            if bytes[lhs.name].elementsEqual(bytes[rhs.name]) {
                return bytes[lhs.value].lexicographicallyPrecedes(bytes[rhs.value])
            }
            return bytes[lhs.name].lexicographicallyPrecedes(bytes[rhs.name])
        }
        write(order, to: &buffer)
    }

    /// `name=value&...` in the order the parameters were appended.
    func writeInOrder(to buffer: inout [UInt8]) {
        write(pairs.indices, to: &buffer)
    }

    private func write(_ order: some Sequence<Int>, to buffer: inout [UInt8]) {
        var first = true
        for index in order {
            if !first { buffer.append(UInt8(ascii: "&")) }
            first = false
            buffer.append(contentsOf: bytes[pairs[index].name])
            buffer.append(UInt8(ascii: "="))
            buffer.append(contentsOf: bytes[pairs[index].value])
        }
    }
}
