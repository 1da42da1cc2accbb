public import Foundation
public import KazooWire
import NIOCore

/// A store's body as the gateway reads it (`StoreBody`): the input's first line is the Content-Type, the rest
/// the body. Properties: the body read in one piece and in the pieces a network might deliver give the same
/// outcome (the same file bytes, JSON and part headers, or the same refusal); the file part is never longer than
/// the body; a body that parses ended with its closing boundary.
public enum MultipartFuzz {
    /// What `StoreBody` made of a body: the file part's bytes, the JSON part and the file part's headers, or why it refused it.
    public struct Outcome: Equatable, Sendable {
        public var file: [UInt8] = []
        public var json: Data = Data()
        public var headers: KazooMultipartParser.PartHeaders?
        public var refusal: String?
    }

    static func run(_ input: [UInt8]) async throws(FuzzFailure) {
        let newline = input.firstIndex(of: UInt8(ascii: "\n")) ?? input.endIndex
        let contentType = String(decoding: input[..<newline], as: UTF8.self)
        let body = newline < input.endIndex ? Array(input[(newline + 1)...]) : []
        // A multipart content type without a boundary is refused before the body is read (StoreRoute).
        guard let boundary = KazooMultipartParser.boundary(fromContentType: contentType) else { return }
        var splits = Splits(seedingWith: input)
        let whole = await outcome(of: [body], boundary: boundary)
        for pieces in [splits.pieces(of: body[...]), Splits.even(body[...], size: 61)] {
            let split = await outcome(of: pieces.map(Array.init), boundary: boundary)
            try fuzzCheck(whole == split, "one piece gave \(whole.summary), pieces gave \(split.summary)")
        }
        try fuzzCheck(whole.file.count <= body.count, "the file part (\(whole.file.count) bytes) is longer than the body")
        if whole.refusal == nil {
            var parser = KazooMultipartParser(boundary: boundary)
            _ = try? parser.feed(ByteBuffer(bytes: body))
            try fuzzCheck(parser.isComplete, "a body without its closing boundary was accepted")
        }
    }

    /// The body, arriving in `pieces`, read as the gateway reads a store.
    public static func outcome(of pieces: [[UInt8]], boundary: String) async -> Outcome {
        let length = pieces.reduce(0) { $0 + $1.count }
        var body = StoreBody(
            source: Pieces(pieces: pieces),
            declaredLength: length,
            limit: 64 * 1024 * 1024,
            multipartBoundary: boundary
        )
        var outcome = Outcome()
        do {
            while let chunk = try await body.next() { outcome.file += chunk.readableBytesView }
        } catch {
            outcome.refusal = "\(error)"
            outcome.file = []
            return outcome
        }
        outcome.json = body.json
        outcome.headers = body.fileHeaders
        return outcome
    }

    struct Pieces: AsyncIteratorProtocol {
        var pieces: [[UInt8]]
        var index = 0

        mutating func next() async -> ByteBuffer? {
            guard index < pieces.count else { return nil }
            index += 1
            return ByteBuffer(bytes: pieces[index - 1])
        }
    }
}

extension MultipartFuzz.Outcome {
    var summary: String {
        if let refusal { return "refusal \(refusal)" }
        return "\(file.count) file bytes, \(json.count) JSON bytes, headers \(String(describing: headers))"
    }
}
