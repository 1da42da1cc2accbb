import Crypto
import Foundation
import Logging
import TestSupport
import Testing

@testable import Spool

/// Files of finished stores are kept and written over by later stores (`SpoolFilePool`), never read as recordings.
struct SpoolFilePoolTests {
    static func names(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func spool(_ directory: String, key: SymmetricKey, quota: Int = 0) throws -> Spool {
        try Spool(
            settings: Spool.Settings(directory: directory, quotaBytes: quota),
            masterKey: key,
            exclusive: false,
            logger: Logger(label: "test")
        )
    }

    static func writer(_ spool: Spool, _ bytes: [UInt8]) throws -> SpoolWriter {
        let writer = try #require(spool.begin(header: SpoolFileTests.header))
        try bytes.withUnsafeBytes { try writer.write($0) }
        return writer
    }

    @Test func aDiscardedFileIsKeptAndTheNextStoreWritesOverItAndReadsBackOnlyItsOwnBytes() throws {
        try SpoolFileTests.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let spool = try Self.spool(directory, key: key)
            // A large store S3 took: its file is kept, under a name that is not a recording's.
            let large = try Self.writer(spool, TestEnvironment.randomBytes(700_000, seed: 1))
            large.discard()
            #expect(Spool.spoolFiles(in: directory).isEmpty)
            #expect(spool.pool.count == 1)
            #expect(Self.names(in: directory).count == 1 && Self.names(in: directory)[0].hasSuffix(".free"))
            #expect(spool.usage.bytes == 0)
            let keptInode = try #require(
                FileManager.default.attributesOfItem(atPath: directory + "/" + Self.names(in: directory)[0])[.systemFileNumber] as? Int
            )

            // A smaller store takes that file (the same inode), and S3 fails: finished, it holds only its own bytes.
            let small = TestEnvironment.randomBytes(100_003, seed: 2)
            let writer = try Self.writer(spool, small)
            #expect(spool.pool.count == 0)
            let inode = try #require(FileManager.default.attributesOfItem(atPath: writer.path)[.systemFileNumber] as? Int)
            #expect(inode == keptInode)
            let finished = try writer.finish(durable: true)
            #expect(finished.size == small.count)
            let (_, read) = try SpoolFileTests.readAll(writer.path, key: key)
            #expect(read == small)
            #expect(Self.names(in: directory) == [(writer.path as NSString).lastPathComponent])
            let onDisk = try #require(FileManager.default.attributesOfItem(atPath: writer.path)[.size] as? Int)
            #expect(onDisk < 110_000, "the former store's bytes were cut off: \(onDisk)")
        }
    }

    @Test func aFileWhoseWriteFailedIsRemovedNotKept() throws {
        try SpoolFileTests.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let spool = try Self.spool(directory, key: key, quota: 300_000)
            let writer = try #require(spool.begin(header: SpoolFileTests.header))
            #expect(throws: SpoolWriteError.self) {
                try TestEnvironment.randomBytes(400_000, seed: 3).withUnsafeBytes { try writer.write($0) }
            }
            writer.discard()
            #expect(Self.names(in: directory).isEmpty)
            #expect(spool.pool.count == 0)
            #expect(spool.usage.bytes == 0)
        }
    }

    @Test func thePoolKeepsAtMostItsFilesAndBytesAndStartUpRemovesWhatItKept() throws {
        try SpoolFileTests.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let pool = SpoolFilePool(directory: directory, maximumFiles: 2, maximumBytes: 250_000)
            func discard(_ size: Int, seed: UInt64) throws {
                let writer = try SpoolWriter(
                    path: directory + "/\(UUID().uuidString).spool",
                    masterKey: key,
                    header: SpoolFileTests.header,
                    pool: pool
                )
                try TestEnvironment.randomBytes(size, seed: seed).withUnsafeBytes { try writer.write($0) }
                writer.discard()
            }
            // Three writers at once: each takes no kept file, and the third finds the pool full.
            let writers = try (0..<3).map { index in
                let writer = try SpoolWriter(
                    path: directory + "/w\(index).spool",
                    masterKey: key,
                    header: SpoolFileTests.header,
                    pool: pool
                )
                try TestEnvironment.randomBytes(50_000, seed: UInt64(index)).withUnsafeBytes { try writer.write($0) }
                return writer
            }
            for writer in writers { writer.discard() }
            #expect(pool.count == 2)
            #expect(Self.names(in: directory).count == 2)
            // A file grown larger than the pool's bytes is removed (it took one of the two kept files).
            try discard(300_000, seed: 9)
            #expect(pool.count == 1)
            #expect(Self.names(in: directory).count == 1)
            #expect(pool.bytes <= 250_000)

            // The next gateway on this directory starts without them.
            _ = try Self.spool(directory, key: key)
            #expect(Self.names(in: directory).isEmpty)
        }
    }

    @Test func removeAllGivesTheDiskSpaceBack() throws {
        try SpoolFileTests.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let spool = try Self.spool(directory, key: key)
            for seed in 0..<3 { try Self.writer(spool, TestEnvironment.randomBytes(80_000, seed: UInt64(seed))).discard() }
            // Three stores one after another write over the same file.
            #expect(spool.pool.count == 1)
            let writers = try (0..<3).map { try Self.writer(spool, TestEnvironment.randomBytes(80_000, seed: UInt64($0))) }
            for writer in writers { writer.discard() }
            #expect(spool.pool.count == 3)
            #expect(spool.pool.removeAll() == 3)
            #expect(spool.pool.bytes == 0)
            #expect(Self.names(in: directory).isEmpty)
        }
    }
}
