import Crypto
import Foundation
import TestSupport
import Testing

@testable import Spool

/// The encrypted spool file format (issue 5 builds the queue and replay around it).
struct SpoolFileTests {
    static let header = SpoolFile.Header(
        accountId: "0123456789abcdef0123456789abcdef",
        objectKey: "rec/a.mp3",
        requestPath: "a.mp3",
        contentType: "audio/mpeg",
        metadata: ["call-id": "call-5e1f0c2a-metadata-value"]
    )

    static func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "rg-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    static func write(_ bytes: [UInt8], to path: String, key: SymmetricKey, pieces: Int = 7000) throws -> (size: Int, checksum: String) {
        let writer = try SpoolWriter(path: path, masterKey: key, header: header)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + pieces, bytes.count)
            try bytes[offset..<end].withUnsafeBytes { try writer.write($0) }
            offset = end
        }
        return try writer.finish(durable: true)
    }

    static func readAll(_ path: String, key: SymmetricKey) throws -> (SpoolFile.Header, [UInt8]) {
        let reader = try SpoolReader(path: path, masterKey: key)
        var out: [UInt8] = []
        while let chunk = try reader.next() { out += chunk }
        return (reader.header, out)
    }

    @Test(arguments: [0, 1, SpoolFile.chunkSize, SpoolFile.chunkSize * 3 + 5])
    func roundTripsEncryptedAtRest(size: Int) throws {
        try Self.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let bytes = TestEnvironment.randomBytes(size, seed: UInt64(size) + 1)
            let path = directory + "/one.spool"
            let (written, checksum) = try Self.write(bytes, to: path, key: key)
            #expect(written == size)
            #expect(checksum.hasPrefix("sha256:"))
            let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == 0o600)
            let (header, read) = try Self.readAll(path, key: key)
            #expect(header == Self.header)
            #expect(read == bytes)
            // Encrypted at rest: neither the recording's bytes nor its metadata appear in the file.
            let raw = try Data(contentsOf: URL(fileURLWithPath: path))
            if size >= 64 { #expect(raw.range(of: Data(bytes[16..<64])) == nil) }
            #expect(raw.range(of: Data("rec/a.mp3".utf8)) == nil)
            // (Strings long enough not to occur by chance in random ciphertext: a 3-byte one did, about once in 80 runs.)
            #expect(raw.range(of: Data("call-5e1f0c2a-metadata-value".utf8)) == nil)
        }
    }

    /// Writes of every size, as a socket delivers them: short ones gathered, long ones sealed from the
    /// caller's buffer, a gathered tail going out as a short record before the next whole one.
    @Test(arguments: [[7000], [512 * 1024], [100, 512 * 1024, 3, 65536, 65535, 1, 200_000]])
    func writesOfAnySizeReadBackWhole(pieces: [Int]) throws {
        try Self.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let bytes = TestEnvironment.randomBytes(3 * 1024 * 1024 + 17, seed: 11)
            let path = directory + "/pieces.spool"
            let writer = try SpoolWriter(path: path, masterKey: key, header: Self.header)
            var offset = 0
            var turn = 0
            while offset < bytes.count {
                let end = min(offset + pieces[turn % pieces.count], bytes.count)
                try bytes[offset..<end].withUnsafeBytes { try writer.write($0) }
                offset = end
                turn += 1
            }
            let (written, _) = try writer.finish(durable: false)
            #expect(written == bytes.count)
            #expect(try Self.readAll(path, key: key).1 == bytes)
        }
    }

    @Test func aFlippedByteATruncationOrAnotherKeyFailsTheIntegrityCheck() throws {
        try Self.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let bytes = TestEnvironment.randomBytes(200_000, seed: 3)
            let path = directory + "/one.spool"
            _ = try Self.write(bytes, to: path, key: key)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            for position in [10, 100, original.count / 2, original.count - 3] {
                var altered = original
                altered[position] ^= 0x01
                try altered.write(to: URL(fileURLWithPath: path))
                #expect(throws: SpoolIntegrityError.self) { _ = try Self.readAll(path, key: key) }
            }
            for length in [original.count - 1, original.count - 40, original.count / 2] {
                try original.prefix(length).write(to: URL(fileURLWithPath: path))
                #expect(throws: SpoolIntegrityError.self) { _ = try Self.readAll(path, key: key) }
            }
            try original.write(to: URL(fileURLWithPath: path))
            let other = SymmetricKey(size: .bits256)
            #expect(throws: SpoolIntegrityError.self) { _ = try Self.readAll(path, key: other) }
            #expect(try Self.readAll(path, key: key).1 == bytes)
            #expect(throws: SpoolWriteError.self) { _ = try SpoolWriter(path: path, masterKey: key, header: Self.header) }
        }
    }
}
