import Foundation
import FuzzHarness
import KazooWire
import NIOCore
import TestSupport
import Testing

/// Generated KAZOO store bodies (random boundaries, names, JSON, binary and base64 file parts, KAZOO's layout
/// and the standard one, some cut short) parsed by the gateway's `StoreBody` in random pieces and by an
/// independent parser (PyPI's `multipart`, scripts/multipart-reference.py): both accept the same bodies and
/// find the same JSON, file name, content type and file bytes, which are the bytes the generator wrote.
struct DifferentialMultipartTests {
    struct Generated {
        var boundary: String
        var body: [UInt8]
        var json: [UInt8]
        var fileName: String
        var contentType: String
        var file: [UInt8]
        var truncated: Bool
    }

    struct Generator {
        var random: SeededRandom

        static let boundaryCharacters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'()+_,-./:=?")

        mutating func bytes(_ count: Int) -> [UInt8] {
            // Line breaks and dashes often, so that near-delimiters appear inside parts.
            (0..<count).map { _ in
                switch random.next() % 8 {
                case 0: UInt8(ascii: "\r")
                case 1: UInt8(ascii: "\n")
                case 2: UInt8(ascii: "-")
                default: UInt8(truncatingIfNeeded: random.next())
                }
            }
        }

        mutating func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }

        mutating func body() -> Generated {
            let length = random.next() % 4 == 0 ? Int(random.next() % 70) + 1 : 64
            let boundary = String((0..<length).map { _ in pick(Self.boundaryCharacters) })
            let kazoo = random.next() % 3 != 0
            let id = "202612-" + String((0..<32).map { _ in pick(Array("0123456789abcdef")) })
            let json = Array("{\"id\":\"\(id)\",\"duration_ms\":\(random.next() % 100_000),\"note\":\"\(pick(["", "a\\nb", "ü€", "--"]))\"}".utf8)
            // KAZOO's names are unquoted tokens; a name with a space only in the standard layout, quoted.
            var fileName = pick(["rec.mp3", "call_recording_\(random.next() % 1000).wav", "ab" + String(repeating: "c", count: 40)])
            if !kazoo && random.next() % 3 == 0 { fileName = "Front desk \(random.next() % 100).mp3" }
            let contentType = pick(["audio/mpeg", "audio/wav", "audio/x-wav", "application/octet-stream"])
            var file = Array("ID3\u{4}".utf8) + bytes(Int(random.next() % 6000))
            let encoding = random.next() % 3  // 0 binary, 1 base64, 2 base64 with line breaks and a header saying so
            var filePart = file
            if encoding == 1 { filePart = Array(Data(file).base64EncodedData()) }
            if encoding == 2 {
                filePart = Array(Data(file).base64EncodedData(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]))
            }
            let delimiter = Array("\r\n--\(boundary)".utf8)
            if filePart.firstRange(of: delimiter) != nil || json.firstRange(of: delimiter) != nil {
                file = Array("ID3\u{4}".utf8)
                filePart = encoding == 0 ? file : Array(Data(file).base64EncodedData())
            }
            let quote = kazoo ? "" : "\""
            var body: [UInt8] = kazoo ? Array("\r\n".utf8) : Array(pick(["", "a preamble\r\n"]).utf8)
            body += Array("--\(boundary)\r\n\(pick(["content-disposition", "Content-Disposition"])): form-data; name=\(quote)\(id)\(quote)\r\n".utf8)
            body += Array("content-type: application/json\r\n\r\n".utf8) + json
            body += Array("\r\n--\(boundary)\r\ncontent-disposition: form-data; name=\(quote)\(fileName)\(quote)".utf8)
            if !kazoo { body += Array("; filename=\"\(fileName)\"".utf8) }
            body += Array("\r\ncontent-type: \(contentType)\r\n".utf8)
            if encoding == 2 { body += Array("Content-Transfer-Encoding: base64\r\n".utf8) }
            body += Array("\r\n".utf8) + filePart + Array("\r\n--\(boundary)--".utf8)
            if !kazoo { body += Array("\r\n".utf8) }
            let truncated = random.next() % 6 == 0
            if truncated { body.removeLast(Int(random.next() % UInt64(min(body.count, 200))) + boundary.utf8.count + 3) }
            return Generated(
                boundary: boundary,
                body: body,
                json: json,
                fileName: fileName,
                contentType: contentType,
                file: file,
                truncated: truncated
            )
        }
    }

    /// What the reference parser found.
    struct Reference: Decodable {
        struct Part: Decodable {
            var name: String?
            var content_type: String?
            var data: String
        }

        var n: Int
        var parts: [Part]?
        var error: String?
    }

    @Test func theGatewayAndAnIndependentParserAgreeOnGeneratedBodies() async throws {
        let count = 400
        let seed = UInt64(Date().timeIntervalSince1970)
        var generator = Generator(random: SeededRandom(seed: seed))
        let bodies = (0..<count).map { _ in generator.body() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("differential-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (n, generated) in bodies.enumerated() {
            try Data(generated.boundary.utf8).write(to: directory.appendingPathComponent("\(n).boundary"))
            try Data(generated.body).write(to: directory.appendingPathComponent("\(n).body"))
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/multipart-reference.py")
        let result = try ChildProcess.run("python3", [script.path, directory.path])
        try #require(result.status == 0, "the reference parser failed: \(result.error)")
        let references = try result.output.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
        try #require(references.count == count)

        var accepted = 0
        for (n, generated) in bodies.enumerated() {
            let context = "body \(n) of seed \(seed) (boundary \(generated.boundary.debugDescription), \(generated.body.count) bytes)"
            let ours = await Self.parse(generated, pieceSeed: seed &+ UInt64(n))
            let reference = references[n]
            guard let parts = reference.parts else {
                #expect(ours.refusal != nil, "\(context): the reference refused it (\(reference.error ?? "")), the gateway accepted it")
                #expect(generated.truncated, "\(context): the reference refused a whole body: \(reference.error ?? "")")
                continue
            }
            guard ours.refusal == nil else {
                Issue.record("\(context): the gateway refused what the reference accepted: \(ours.refusal ?? "")")
                continue
            }
            accepted += 1
            #expect(!generated.truncated, "\(context): both accepted a body cut short")
            try #require(parts.count == 2, "\(context): the reference found \(parts.count) parts")
            let referenceJSON = Data(base64Encoded: parts[0].data).map(Array.init)
            let referenceFile = Data(base64Encoded: parts[1].data).map(Array.init) ?? []
            #expect(Array(ours.json) == referenceJSON && Array(ours.json) == generated.json, "\(context): the JSON part differs")
            #expect(ours.headers?.name == parts[1].name && ours.headers?.name == generated.fileName, "\(context): the file part's name differs")
            #expect(
                ours.headers?.contentType == parts[1].content_type && ours.headers?.contentType == generated.contentType,
                "\(context): the content type differs"
            )
            // The reference gives the part's text; base64 is decoded on our side for the comparison.
            let referenceDecoded =
                referenceFile == generated.file
                ? referenceFile : Data(base64Encoded: Data(referenceFile), options: .ignoreUnknownCharacters).map(Array.init)
            #expect(referenceDecoded == generated.file, "\(context): the reference's file part is not what was generated")
            #expect(ours.file == generated.file, "\(context): the gateway's file bytes differ (\(ours.file.count) vs \(generated.file.count))")
        }
        #expect(accepted >= count / 2, "only \(accepted) of \(count) bodies were whole")
    }

    /// The body through `StoreBody`, in random pieces of 1 byte to 8 KiB.
    static func parse(_ generated: Generated, pieceSeed: UInt64) async -> MultipartFuzz.Outcome {
        var random = SeededRandom(seed: pieceSeed)
        var pieces: [[UInt8]] = []
        var offset = 0
        while offset < generated.body.count {
            let size = Int(random.next() % (random.next() % 2 == 0 ? 64 : 8192)) + 1
            pieces.append(Array(generated.body[offset..<min(generated.body.count, offset + size)]))
            offset += size
        }
        return await MultipartFuzz.outcome(of: pieces, boundary: generated.boundary)
    }
}

/// A small seeded generator (xorshift), so that a failing run can be repeated from the seed it prints.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
