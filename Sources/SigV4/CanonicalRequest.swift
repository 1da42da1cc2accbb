/// Builders for the parts of a SigV4 canonical request ("Create a canonical request" in AWS's SigV4
/// documentation), writing into one `ScratchBuffer` so that a signing makes no intermediate strings.
enum CanonicalRequest {
    /// Header names that are never signed: proxies and clients change or drop them on the way.
    static func isUnsignable(_ lowercasedName: UnsafeBufferPointer<UInt8>) -> Bool {
        switch lowercasedName.count {
        case 6: equals(lowercasedName, "expect")
        case 10: equals(lowercasedName, "user-agent") || equals(lowercasedName, "connection")
        case 13: equals(lowercasedName, "authorization")
        case 15: equals(lowercasedName, "x-amzn-trace-id")
        case 17: equals(lowercasedName, "transfer-encoding")
        default: false
        }
    }

    /// Headers the signer sets itself; a caller's copy of them is ignored.
    static func isSetBySigner(_ lowercasedName: UnsafeBufferPointer<UInt8>) -> Bool {
        switch lowercasedName.count {
        case 4: equals(lowercasedName, "host")
        case 10: equals(lowercasedName, "x-amz-date")
        case 20: equals(lowercasedName, "x-amz-content-sha256") || equals(lowercasedName, "x-amz-security-token")
        default: false
        }
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        bytes.count == literal.utf8CodeUnitCount
            && bytes.elementsEqual(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Writes the canonical headers block (each `name:value\n`) and then the `;`-joined signed header names.
    ///
    /// Names are lowercased and sorted by byte; repeated headers are joined with `,` in the order sent;
    /// values are trimmed and inner runs of whitespace become one space. `extra` holds the headers the
    /// signer adds, already lowercase.
    static func writeHeaders(
        host: String,
        headers: [HeaderField],
        extra: [HeaderField],
        into scratch: inout ScratchBuffer
    ) -> (canonical: Range<Int>, signedNames: Range<Int>) {
        if headers.isEmpty && extra.isEmpty {
            let start = scratch.count
            scratch.append("host:" as StaticString)
            appendTrimmed(host, to: &scratch)
            scratch.append(UInt8(ascii: "\n"))
            let namesStart = scratch.count
            scratch.append("host" as StaticString)
            return (start..<namesStart, namesStart..<scratch.count)
        }

        // Lowercased names go into the scratch buffer; entries point at them.
        var entries: [(name: Range<Int>, value: String)] = []
        entries.reserveCapacity(headers.count + extra.count + 1)
        func add(_ name: String, _ value: String, lowercase: Bool, filter: Bool, scratch: inout ScratchBuffer) {
            let start = scratch.count
            if lowercase { scratch.appendLowercased(name) } else { scratch.append(name) }
            let range = start..<scratch.count
            if filter {
                let skip = scratch.withRegion(range) { isUnsignable($0) || isSetBySigner($0) }
                if skip { return }
            }
            entries.append((range, value))
        }
        add("host", host, lowercase: false, filter: false, scratch: &scratch)
        for field in headers { add(field.name, field.value, lowercase: true, filter: true, scratch: &scratch) }
        for field in extra { add(field.name, field.value, lowercase: false, filter: false, scratch: &scratch) }

        // Insertion sort: stable (repeated headers keep their order) and quick for the dozen headers a request has.
        for index in entries.indices.dropFirst() {
            let entry = entries[index]
            var position = index
            while position > 0 && scratch.precedes(entry.name, entries[position - 1].name) {
                entries[position] = entries[position - 1]
                position -= 1
            }
            entries[position] = entry
        }

        let canonicalStart = scratch.count
        var previous: Range<Int>?
        for entry in entries {
            if let previous, scratch.equal(previous, entry.name) {
                scratch.removeLast()  // the newline after the previous value
                scratch.append(UInt8(ascii: ","))
            } else {
                scratch.append(region: entry.name)
                scratch.append(UInt8(ascii: ":"))
                previous = entry.name
            }
            appendTrimmed(entry.value, to: &scratch)
            scratch.append(UInt8(ascii: "\n"))
        }
        let namesStart = scratch.count
        previous = nil
        for entry in entries {
            if let previous, scratch.equal(previous, entry.name) { continue }
            if previous != nil { scratch.append(UInt8(ascii: ";")) }
            scratch.append(region: entry.name)
            previous = entry.name
        }
        return (canonicalStart..<namesStart, namesStart..<scratch.count)
    }

    /// Appends a header value with leading and trailing whitespace removed and inner runs collapsed.
    static func appendTrimmed(_ value: String, to scratch: inout ScratchBuffer) {
        var value = value
        value.withUTF8 { bytes in
            scratch.reserve(bytes.count)
            var pendingSpace = false
            var started = false
            for byte in bytes {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    pendingSpace = started
                default:
                    if pendingSpace { scratch.appendWithinCapacity(UInt8(ascii: " ")) }
                    pendingSpace = false
                    started = true
                    scratch.appendWithinCapacity(byte)
                }
            }
        }
    }

    /// Writes the canonical URI of `path` under `rule`.
    static func writePath(_ path: String, rule: PathRule, into scratch: inout ScratchBuffer) -> Range<Int> {
        let start = scratch.count
        switch rule {
        case .s3:
            if path.isEmpty { scratch.append(UInt8(ascii: "/")) }
            scratch.appendEncoded(path, keepSlash: true)
        case .normalized:
            scratch.appendEncoded(normalize(path), keepSlash: true)
        }
        return start..<scratch.count
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

/// Query parameters encoded once into the scratch buffer, in the order given; sortable for the canonical form.
struct EncodedQuery {
    var pairs: [(name: Range<Int>, value: Range<Int>)] = []

    init(capacity: Int) {
        pairs.reserveCapacity(capacity)
    }

    mutating func append(name: String, value: String, into scratch: inout ScratchBuffer) {
        let nameStart = scratch.count
        scratch.appendEncoded(name, keepSlash: false)
        let valueStart = scratch.count
        scratch.appendEncoded(value, keepSlash: false)
        pairs.append((nameStart..<valueStart, valueStart..<scratch.count))
    }

    /// Appends a pair whose value is a region of the scratch buffer.
    mutating func append(name: StaticString, valueRegion: Range<Int>, into scratch: inout ScratchBuffer) {
        let nameStart = scratch.count
        scratch.append(name)
        let valueStart = scratch.count
        scratch.appendEncoded(region: valueRegion, keepSlash: false)
        pairs.append((nameStart..<valueStart, valueStart..<scratch.count))
    }

    /// Appends a pair whose value needs no encoding (only unreserved characters).
    mutating func appendVerbatim(name: StaticString, value: StaticString, into scratch: inout ScratchBuffer) {
        let nameStart = scratch.count
        scratch.append(name)
        let valueStart = scratch.count
        scratch.append(value)
        pairs.append((nameStart..<valueStart, valueStart..<scratch.count))
    }

    /// Appends a pair whose value is a region of the scratch buffer that needs no encoding.
    mutating func append(name: StaticString, verbatimRegion: Range<Int>, into scratch: inout ScratchBuffer) {
        let nameStart = scratch.count
        scratch.append(name)
        let valueStart = scratch.count
        scratch.append(region: verbatimRegion)
        pairs.append((nameStart..<valueStart, valueStart..<scratch.count))
    }

    /// Sorts by encoded name, then value, as the canonical request wants.
    mutating func sort(in scratch: borrowing ScratchBuffer) {
        for index in pairs.indices.dropFirst() {
            let pair = pairs[index]
            var position = index
            while position > 0 && Self.precedes(pair, pairs[position - 1], in: scratch) {
                pairs[position] = pairs[position - 1]
                position -= 1
            }
            pairs[position] = pair
        }
    }

    private static func precedes(
        _ lhs: (name: Range<Int>, value: Range<Int>),
        _ rhs: (name: Range<Int>, value: Range<Int>),
        in scratch: borrowing ScratchBuffer
    ) -> Bool {
        if scratch.equal(lhs.name, rhs.name) { return scratch.precedes(lhs.value, rhs.value) }
        return scratch.precedes(lhs.name, rhs.name)
    }

    /// Writes `name=value&...` in the current order; returns the region written.
    func write(into scratch: inout ScratchBuffer) -> Range<Int> {
        let start = scratch.count
        for (index, pair) in pairs.enumerated() {
            if index > 0 { scratch.append(UInt8(ascii: "&")) }
            scratch.append(region: pair.name)
            scratch.append(UInt8(ascii: "="))
            scratch.append(region: pair.value)
        }
        return start..<scratch.count
    }
}
