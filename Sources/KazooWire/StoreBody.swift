public import Foundation
public import NIOCore

/// The bytes of a store request's body as the uploader reads them.
///
/// Counts what arrives against the size limit and the declared `Content-Length` (fewer bytes is a
/// truncated upload and an error, never an object), and unwraps KAZOO's multipart body: the JSON
/// part is kept for metadata, the file part's bytes are passed on (base64-decoded when it is base64).
public struct StoreBody<Source: AsyncIteratorProtocol>: AsyncSequence, AsyncIteratorProtocol where Source.Element == ByteBuffer {
    public typealias Element = ByteBuffer

    private var source: Source
    public let declaredLength: Int?
    public let limit: Int
    public private(set) var received = 0

    private var parser: KazooMultipartParser?
    private var events: [KazooMultipartParser.Event] = []
    private var eventIndex = 0
    private enum Part { case none, json, file, other }
    private var part = Part.none
    private var fileSeen = false
    private var fileEnded = false
    /// nil until decided: the part says base64, or its first bytes are all base64 text.
    private var base64: Base64StreamDecoder?
    private var decided = false
    private var sniffed = ByteBuffer()
    public private(set) var json = Data()
    public private(set) var fileHeaders: KazooMultipartParser.PartHeaders?

    static var maximumJSONBytes: Int { 256 * 1024 }
    static var sniffBytes: Int { 1024 }

    public init(source: Source, declaredLength: Int?, limit: Int, multipartBoundary: String?) {
        self.source = source
        self.declaredLength = declaredLength
        self.limit = limit
        self.parser = multipartBoundary.map(KazooMultipartParser.init(boundary:))
    }

    public func makeAsyncIterator() -> Self { self }

    /// For multipart bodies: reads up to the start of the file part, so that the JSON part's metadata and
    /// the file's content type are known before the upload begins.
    public mutating func readToFilePart() async throws {
        guard parser != nil else { return }
        while !fileSeen {
            guard try await nextEvent(stopAtFileStart: true) != nil else { break }
        }
        guard fileSeen else { throw StoreBodyError.malformed("the multipart body has no file part (only JSON)") }
    }

    public mutating func next() async throws -> ByteBuffer? {
        guard parser != nil else { return try await nextChunk() }
        if !fileSeen { try await readToFilePart() }
        while true {
            if fileEnded && decided && sniffed.readableBytes == 0 {
                if let base64 { try base64.finish() }
                // Drain whatever follows the file part, so a truncated tail is still caught.
                while try await nextEvent(stopAtFileStart: false) != nil {}
                return nil
            }
            if !decided {
                guard let bytes = try await nextFileBytes() else {
                    decide()
                    continue
                }
                var chunk = bytes
                sniffed.writeBuffer(&chunk)
                if sniffed.readableBytes >= Self.sniffBytes { decide() }
                continue
            }
            if sniffed.readableBytes > 0 {
                let first = sniffed
                sniffed = ByteBuffer()
                if let decoded = try decode(first) { return decoded }
                continue
            }
            guard let bytes = try await nextFileBytes() else { continue }
            if let decoded = try decode(bytes) { return decoded }
        }
    }

    private mutating func decide() {
        decided = true
        let marked = fileHeaders?.transferEncoding == "base64"
        // Exactly the first `sniffBytes` (or the whole file part when shorter), however the network cut them: the
        // same body is read the same way whatever pieces it came in.
        let looksEncoded =
            sniffed.readableBytes >= 4 && !(fileHeaders?.contentType?.lowercased().hasPrefix("text/") ?? false)
            && sniffed.readableBytesView.prefix(Self.sniffBytes).allSatisfy(Base64StreamDecoder.isBase64Text)
        if marked || looksEncoded { base64 = Base64StreamDecoder() }
    }

    private mutating func decode(_ bytes: ByteBuffer) throws -> ByteBuffer? {
        guard var decoder = base64 else { return bytes }
        let output = try decoder.decode(bytes)
        base64 = decoder
        return output.readableBytes > 0 ? output : nil
    }

    /// The file part's next bytes, or nil once it ended.
    private mutating func nextFileBytes() async throws -> ByteBuffer? {
        while !fileEnded {
            guard let event = try await nextEvent(stopAtFileStart: false) else {
                throw StoreBodyError.malformed("the multipart body ended inside its file part (truncated upload)")
            }
            switch event {
            case .bytes(let bytes) where part == .file: return bytes
            case .partEnd where part == .file:
                fileEnded = true
            default: break
            }
        }
        return nil
    }

    /// The next parser event (handling JSON and part bookkeeping); nil at the end of a complete body.
    private mutating func nextEvent(stopAtFileStart: Bool) async throws -> KazooMultipartParser.Event? {
        while eventIndex >= events.count {
            guard var parser else { return nil }
            guard let chunk = try await nextChunk() else {
                try parser.finish()
                return nil
            }
            events = try parser.feed(chunk)
            eventIndex = 0
            self.parser = parser
        }
        let event = events[eventIndex]
        eventIndex += 1
        switch event {
        case .partStart(let headers):
            let isJSON = headers.contentType?.lowercased().hasPrefix("application/json") ?? false
            if isJSON && !fileSeen {
                part = .json
            } else if !fileSeen {
                part = .file
                fileSeen = true
                fileHeaders = headers
            } else {
                part = .other
            }
        case .bytes(let bytes) where part == .json:
            guard json.count + bytes.readableBytes <= Self.maximumJSONBytes else {
                throw StoreBodyError.malformed("the multipart JSON part is larger than 256 KiB")
            }
            json.append(contentsOf: bytes.readableBytesView)
        case .partEnd where part != .file:
            part = .none
        default:
            break
        }
        return event
    }

    /// The next chunk of the request body, counted and checked.
    private mutating func nextChunk() async throws -> ByteBuffer? {
        guard let chunk = try await source.next() else {
            if let declaredLength, received < declaredLength { throw StoreBodyError.truncated(received: received, declared: declaredLength) }
            return nil
        }
        received += chunk.readableBytes
        if received > limit { throw StoreBodyError.tooLarge(limit: limit) }
        if let declaredLength, received > declaredLength { throw StoreBodyError.malformed("the body is longer than its Content-Length") }
        return chunk
    }
}

/// Why a store's body was refused; the gateway answers 400 or 413 with it.
public enum StoreBodyError: Error, Sendable {
    case truncated(received: Int, declared: Int)
    case tooLarge(limit: Int)
    case malformed(String)
}
