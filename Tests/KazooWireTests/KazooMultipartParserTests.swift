import Foundation
import NIOCore
import Testing

@testable import KazooWire

struct KazooMultipartParserTests {
    static let boundary = "bXVsdGlwYXJ0LWJvdW5kYXJ5LWZvci10aGUtcmVjb3JkaW5nLWdhdGV3YXktdGVzdA"

    /// The body exactly as KAZOO's kz_att_http lays it out (KAZOO.md): leading CRLF, unquoted names,
    /// no `filename=`, no CRLF after the closing boundary.
    static func kazooBody(json: String, file: [UInt8], contentType: String = "audio/mpeg") -> [UInt8] {
        var body = Array("\r\n--\(boundary)\r\ncontent-disposition: form-data; name=202611-abc\r\ncontent-type: application/json\r\n\r\n\(json)".utf8)
        body += Array("\r\n--\(boundary)\r\ncontent-disposition: form-data; name=rec.mp3\r\ncontent-type: \(contentType)\r\n\r\n".utf8)
        body += file
        body += Array("\r\n--\(boundary)--".utf8)
        return body
    }

    struct Parsed {
        var parts: [(headers: KazooMultipartParser.PartHeaders, bytes: [UInt8])] = []
    }

    static func parse(_ body: [UInt8], pieceSize: Int) throws -> Parsed {
        var parser = KazooMultipartParser(boundary: boundary)
        var parsed = Parsed()
        var offset = 0
        while offset < body.count {
            let end = min(offset + pieceSize, body.count)
            for event in try parser.feed(ByteBuffer(bytes: body[offset..<end])) {
                switch event {
                case .partStart(let headers): parsed.parts.append((headers, []))
                case .bytes(let bytes): parsed.parts[parsed.parts.count - 1].bytes += Array(bytes.readableBytesView)
                case .partEnd: break
                }
            }
            offset = end
        }
        try parser.finish()
        return parsed
    }

    @Test(arguments: [1, 2, 3, 7, 64, 70, 71, 4096, 1 << 20])
    func kazooLayoutParsesAtAnyChunking(pieceSize: Int) throws {
        // The file holds CRLFs, dashes and a near-boundary, which must not end it.
        let file = Array("\r\n--\(Self.boundary.dropLast())x\r\n--\r\n".utf8) + (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let parsed = try Self.parse(Self.kazooBody(json: #"{"call_id":"c1"}"#, file: file), pieceSize: pieceSize)
        #expect(parsed.parts.count == 2)
        #expect(parsed.parts[0].headers.name == "202611-abc")
        #expect(parsed.parts[0].headers.contentType == "application/json")
        #expect(String(decoding: parsed.parts[0].bytes, as: UTF8.self) == #"{"call_id":"c1"}"#)
        #expect(parsed.parts[1].headers.name == "rec.mp3")
        #expect(parsed.parts[1].headers.contentType == "audio/mpeg")
        #expect(parsed.parts[1].bytes == file)
    }

    @Test func standardLayoutWithQuotedNamesAndClosingCRLFParses() throws {
        let body = Array(
            "--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--\(Self.boundary)--\r\n"
                .utf8
        )
        let parsed = try Self.parse(body, pieceSize: 5)
        #expect(parsed.parts.count == 1)
        #expect(parsed.parts[0].headers.name == "file")
        #expect(parsed.parts[0].bytes == Array("RIFF".utf8))
    }

    @Test func aBodyWithoutItsClosingBoundaryIsAnError() throws {
        let body = Self.kazooBody(json: "{}", file: Array(repeating: 1, count: 100))
        for cut in [10, 120, body.count - 20, body.count - 2] {
            #expect(throws: MultipartError.self) { _ = try Self.parse(Array(body.prefix(cut)), pieceSize: 17) }
        }
    }

    @Test func boundaryIsReadFromTheContentType() {
        #expect(KazooMultipartParser.boundary(fromContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(KazooMultipartParser.boundary(fromContentType: "multipart/form-data; boundary=\"a b\"") == "a b")
        #expect(KazooMultipartParser.boundary(fromContentType: "audio/mpeg") == nil)
        #expect(KazooMultipartParser.boundary(fromContentType: "multipart/form-data") == nil)
    }

    @Test func hugeHeadersAreRefused() {
        let body = Array("\r\n--\(Self.boundary)\r\nx: \(String(repeating: "a", count: 20_000))".utf8)
        #expect(throws: MultipartError.self) { _ = try Self.parse(body, pieceSize: 1000) }
    }
}

struct Base64StreamDecoderTests {
    @Test(arguments: [1, 3, 4, 5, 76, 1000])
    func decodesAcrossArbitraryPieces(pieceSize: Int) throws {
        for length in [0, 1, 2, 3, 4, 100, 1001] {
            let data = Data((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            let text = Array(data.base64EncodedString(options: [.lineLength76Characters]).utf8)
            var decoder = Base64StreamDecoder()
            var out: [UInt8] = []
            var offset = 0
            while offset < text.count {
                let end = min(offset + pieceSize, text.count)
                out += Array(try decoder.decode(ByteBuffer(bytes: text[offset..<end])).readableBytesView)
                offset = end
            }
            try decoder.finish()
            #expect(out == Array(data), "length \(length)")
        }
    }

    @Test func refusesNonBase64AndTruncatedText() throws {
        var decoder = Base64StreamDecoder()
        #expect(throws: MultipartError.self) { _ = try decoder.decode(ByteBuffer(string: "ab$d")) }
        var short = Base64StreamDecoder()
        _ = try short.decode(ByteBuffer(string: "QUJD" + "QU"))
        #expect(throws: MultipartError.self) { try short.finish() }
        var afterPadding = Base64StreamDecoder()
        #expect(throws: MultipartError.self) { _ = try afterPadding.decode(ByteBuffer(string: "QQ==QUJD")) }
    }
}
