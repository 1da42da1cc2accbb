public import NIOCore

/// A streaming parser for the `multipart/form-data` bodies KAZOO's http storage handler sends
/// (KAZOO.md): a leading CRLF before the first boundary, unquoted `name=` values, no closing CRLF.
/// Standard bodies (no leading CRLF, quoted names, a closing CRLF) parse too.
///
/// Fed ByteBuffers as they arrive, it emits events; memory is bounded by the header limit plus the
/// few bytes held back that might begin a delimiter. A body that ends before the closing boundary is
/// an error, so a truncated upload never looks complete.
public struct KazooMultipartParser: Sendable {
    public struct PartHeaders: Sendable, Hashable {
        public var name: String?
        public var contentType: String?
        public var transferEncoding: String?
    }

    public enum Event: Sendable {
        case partStart(PartHeaders)
        case bytes(ByteBuffer)
        case partEnd
    }

    enum State: Sendable {
        case preamble
        case afterDelimiter
        case headers
        case body
        case done
    }

    static let maximumHeaderBytes = 16 * 1024

    let delimiter: [UInt8]
    var state = State.preamble
    /// Bytes not yet consumed; starts with a CRLF so that a boundary at the very start is found like any other.
    var pending: ByteBuffer
    /// An error found after events that were not yet handed out: thrown by the next `feed` or `finish`, so that
    /// the events before it are handled first however the network cut the body (in one piece, the base64 part's
    /// own error came second and another error was reported than for the same body in pieces; found by fuzzing).
    var laterError: MultipartError?

    public init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        pending = ByteBuffer(bytes: [0x0D, 0x0A])
    }

    /// The boundary from a `multipart/form-data; boundary=...` content type, or nil when it is not multipart.
    public static func boundary(fromContentType contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let kind = pieces.first, kind.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return (1...200).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes `buffer`, returning what it completed.
    public mutating func feed(_ buffer: ByteBuffer) throws(MultipartError) -> [Event] {
        if let laterError { throw laterError }
        if case .done = state { return [] }
        if pending.readableBytes == 0 {
            pending = buffer
        } else {
            var incoming = buffer
            pending.writeBuffer(&incoming)
        }
        var events: [Event] = []
        do {
            while try step(into: &events) {}
        } catch {
            if events.isEmpty { throw error }
            laterError = error
        }
        return events
    }

    /// The body ended: an error unless the closing boundary was seen.
    public func finish() throws(MultipartError) {
        if let laterError { throw laterError }
        guard isComplete else { throw MultipartError("the multipart body ended before its closing boundary (truncated upload)") }
    }

    /// One transition; false when more input is needed.
    mutating func step(into events: inout [Event]) throws(MultipartError) -> Bool {
        switch state {
        case .done:
            pending.clear()
            return false
        case .preamble:
            guard let index = find(delimiter, in: pending) else {
                // Keep only what could still begin a delimiter.
                let keep = partialMatchLength(delimiter, atEndOf: pending)
                pending.moveReaderIndex(forwardBy: pending.readableBytes - keep)
                if pending.readerIndex > 64 * 1024 { pending.discardReadBytes() }
                return false
            }
            pending.moveReaderIndex(forwardBy: index + delimiter.count)
            state = .afterDelimiter
            return true
        case .afterDelimiter:
            guard pending.readableBytes >= 2 else { return false }
            let view = pending.readableBytesView
            let first = view[view.startIndex]
            let second = view[view.startIndex + 1]
            if first == UInt8(ascii: "-") && second == UInt8(ascii: "-") {
                state = .done
                pending.clear()
                return false
            }
            guard first == 0x0D && second == 0x0A else { throw MultipartError("a multipart boundary is not followed by a line break") }
            // Leave the CRLF: the header block is then CRLF ... CRLF CRLF, found with one search.
            state = .headers
            return true
        case .headers:
            guard let end = find([0x0D, 0x0A, 0x0D, 0x0A], in: pending) else {
                guard pending.readableBytes <= Self.maximumHeaderBytes else { throw MultipartError("a multipart part's headers are too long") }
                return false
            }
            guard end <= Self.maximumHeaderBytes, let block = pending.readString(length: end + 2) else {
                throw MultipartError("a multipart part's headers are too long")
            }
            pending.moveReaderIndex(forwardBy: 2)
            events.append(.partStart(Self.parseHeaders(block)))
            state = .body
            return true
        case .body:
            if let index = find(delimiter, in: pending) {
                if index > 0, let slice = pending.readSlice(length: index) { events.append(.bytes(slice)) }
                pending.moveReaderIndex(forwardBy: delimiter.count)
                events.append(.partEnd)
                state = .afterDelimiter
                return true
            }
            let keep = partialMatchLength(delimiter, atEndOf: pending)
            let emit = pending.readableBytes - keep
            if emit > 0, let slice = pending.readSlice(length: emit) { events.append(.bytes(slice)) }
            pending = keep > 0 ? ByteBuffer(bytes: pending.readableBytesView) : ByteBuffer()
            return false
        }
    }

    static func parseHeaders(_ block: String) -> PartHeaders {
        var headers = PartHeaders()
        for line in block.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "content-disposition":
                for parameter in value.split(separator: ";").dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "name" else { continue }
                    var name = pair[1].trimmingCharacters(in: .whitespaces)
                    if name.hasPrefix("\"") && name.hasSuffix("\"") && name.count >= 2 { name = String(name.dropFirst().dropLast()) }
                    headers.name = name
                }
            case "content-type": headers.contentType = value
            case "content-transfer-encoding": headers.transferEncoding = value.lowercased()
            default: break
            }
        }
        return headers
    }

    /// Index (from the reader index) of the first occurrence of `needle`.
    func find(_ needle: [UInt8], in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { haystack -> Int? in
            guard let first = needle.first, haystack.count >= needle.count else { return nil }
            var start = 0
            let last = haystack.count - needle.count
            while start <= last {
                guard let base = haystack.baseAddress,
                    let hit = memchr(base + start, Int32(first), last - start + 1)
                else { return nil }
                let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + index, needle, needle.count) == 0 { return index }
                start = index + 1
            }
            return nil
        }
    }

    /// The length of the longest proper prefix of `needle` that the buffer ends with.
    func partialMatchLength(_ needle: [UInt8], atEndOf buffer: ByteBuffer) -> Int {
        let view = buffer.readableBytesView
        var length = min(needle.count - 1, view.count)
        while length > 0 {
            if view.suffix(length).elementsEqual(needle.prefix(length)) { return length }
            length -= 1
        }
        return 0
    }
}

/// A malformed or truncated multipart body; safe to show the client.
public struct MultipartError: Error, Sendable, Hashable {
    public let message: String
    init(_ message: String) { self.message = message }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
