import AsyncHTTPClient
import Foundation
import NIOCore

/// The body KAZOO sends for a recording, produced piece by piece as the connection takes it (never whole in
/// memory), with its exact length for `Content-Length` (KAZOO never sends chunked bodies).
struct StoreBody: Sendable {
    let contentType: String
    let length: Int
    private let pieces: @Sendable (Int) -> ByteBuffer?

    /// Raw file bytes are sent in pieces of this size; base64 in pieces of 3/4 of it (a multiple of 3 bytes).
    static let pieceSize = 64 * 1024

    init(call: PlannedCall, form: StoreForm) {
        let audio = call.audio
        let file = Self.filePieces(audio)
        switch form {
        case .raw:
            contentType = audio.format.contentType
            length = audio.length
            pieces = file.piece
        case .multipart, .multipartBase64:
            let boundary = Self.boundary(seed: audio.seed)
            let json = Self.json(call.metadata)
            // KAZOO.md: the leading CRLF, unquoted names, no filename, no CRLF after the closing boundary.
            let head = ByteBuffer(
                string: "\r\n--\(boundary)\r\ncontent-disposition: form-data; name=\(call.documentId)\r\n"
                    + "content-type: application/json\r\n\r\n\(json)\r\n--\(boundary)\r\n"
                    + "content-disposition: form-data; name=\(call.attachmentName)\r\n"
                    + "content-type: \(audio.format.contentType)\r\n\r\n"
            )
            let tail = ByteBuffer(string: "\r\n--\(boundary)--")
            let middle = form == .multipart ? file : Self.base64Pieces(audio)
            contentType = "multipart/form-data; boundary=\(boundary)"
            length = head.readableBytes + middle.length + tail.readableBytes
            let count = middle.count
            pieces = { index in
                if index == 0 { return head }
                if index <= count { return middle.piece(index - 1) }
                return index == count + 1 ? tail : nil
            }
        }
    }

    var httpBody: HTTPClientRequest.Body {
        .stream(Pieces(pieces: pieces), length: .known(Int64(length)))
    }

    private typealias Parts = (count: Int, length: Int, piece: @Sendable (Int) -> ByteBuffer?)

    private static func filePieces(_ audio: SyntheticAudio) -> Parts {
        let count = (audio.length + pieceSize - 1) / pieceSize
        return (
            count, audio.length,
            { index in
                guard index < count else { return nil }
                let start = index * pieceSize
                return audio.buffer(start..<min(audio.length, start + pieceSize))
            }
        )
    }

    /// Erlang's `base64:encode/1`: no line breaks, padded.
    private static func base64Pieces(_ audio: SyntheticAudio) -> Parts {
        let raw = pieceSize / 4 * 3
        let count = (audio.length + raw - 1) / raw
        return (
            count, (audio.length + 2) / 3 * 4,
            { index in
                guard index < count else { return nil }
                let start = index * raw
                let bytes = audio.bytes(start..<min(audio.length, start + raw))
                return ByteBuffer(string: Data(bytes).base64EncodedString())
            }
        )
    }

    /// 64 base64url characters, as KAZOO's boundaries are.
    static func boundary(seed: UInt64) -> String {
        var random = SplitMix(seed: seed ^ 0x5EED)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<64).map { _ in alphabet[Int(random.next() % 64)] })
    }

    static func json(_ fields: [(String, String)]) -> String {
        let object = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    struct Pieces: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let pieces: @Sendable (Int) -> ByteBuffer?

        struct AsyncIterator: AsyncIteratorProtocol {
            let pieces: @Sendable (Int) -> ByteBuffer?
            var index = 0

            mutating func next() async -> ByteBuffer? {
                defer { index += 1 }
                return pieces(index)
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pieces: pieces) }
    }
}
