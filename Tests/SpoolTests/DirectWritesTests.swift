import Crypto
import Foundation
import Logging
import S3
import TestSupport
import Testing

@testable import Spool

/// A large spool file's bytes past the threshold go around the page cache (`DirectWrites`), from a staging
/// buffer charged to the memory budget; the file reads back as any other.
struct DirectWritesTests {
    static let threshold = 1024 * 1024

    /// A spool in a fresh directory whose large files go direct past `threshold`, charged to a 4 MiB budget.
    static func withSpool(_ body: (Spool, MemoryBudget, SymmetricKey) throws -> Void) throws {
        try SpoolFileTests.withDirectory { directory in
            let key = SymmetricKey(size: .bits256)
            let budget = MemoryBudget(capacity: 4 * 1024 * 1024)
            let spool = try Spool(
                settings: Spool.Settings(directory: directory),
                masterKey: key,
                exclusive: false,
                directWrites: DirectWrites.Settings(budget: budget, threshold: threshold),
                logger: Logger(label: "test")
            )
            try body(spool, budget, key)
        }
    }

    /// Writes `bytes` in pieces of uneven sizes.
    static func write(_ bytes: [UInt8], to writer: SpoolWriter) throws {
        let sizes = [70_001, 3, 524_288, 65_536, 1, 200_000]
        var offset = 0
        var turn = 0
        while offset < bytes.count {
            let end = min(offset + sizes[turn % sizes.count], bytes.count)
            try bytes[offset..<end].withUnsafeBytes { try writer.write($0) }
            offset = end
            turn += 1
        }
    }

    @Test func aLargeFileGoesAroundThePageCacheAndReadsBackWhole() throws {
        try Self.withSpool { spool, budget, key in
            let bytes = TestEnvironment.randomBytes(6 * 1024 * 1024 + 12_345, seed: 11)
            let writer = try #require(spool.begin(header: SpoolFileTests.header))
            try Self.write(bytes, to: writer)

            // The staging buffer is charged while the file is written, and what went direct is not cached.
            #expect(budget.inUse == DirectWrites.stagingSize)
            let direct = try #require(writer.direct)
            #expect(direct.offset >= 5 * 1024 * 1024 && !direct.refused)
            let aroundTheCache = (Self.threshold + DirectWrites.stagingSize)..<direct.offset
            if !PageCache.filesLiveInMemory(writer.path) {
                #expect(PageCache.cachedPages(writer.path, aroundTheCache) == 0)
            }
            #expect((PageCache.cachedPages(writer.path, 0..<Self.threshold) ?? 0) > 0, "below the threshold, the page cache")

            let finished = try writer.finish(durable: true)
            #expect(finished.size == bytes.count)
            #expect(budget.inUse == 0)
            let (_, read) = try SpoolFileTests.readAll(writer.path, key: key)
            #expect(read == bytes)
        }
    }

    @Test func withNoRoomInTheBudgetTheFileStaysInThePageCacheUntilThereIs() throws {
        try Self.withSpool { spool, budget, key in
            let held = 3 * 1024 * 1024 + 1
            #expect(budget.tryAcquire(held))
            let bytes = TestEnvironment.randomBytes(6 * 1024 * 1024, seed: 12)
            let writer = try #require(spool.begin(header: SpoolFileTests.header))
            try Self.write(Array(bytes[..<(3 * 1024 * 1024)]), to: writer)
            #expect(writer.direct == nil)
            #expect(budget.inUse == held)
            // Room again: the file's later bytes go direct.
            budget.release(held)
            try Self.write(Array(bytes[(3 * 1024 * 1024)...]), to: writer)
            #expect(writer.direct != nil)
            #expect(budget.inUse == DirectWrites.stagingSize)
            _ = try writer.finish(durable: false)
            #expect(budget.inUse == 0)
            #expect(try SpoolFileTests.readAll(writer.path, key: key).1 == bytes)
        }
    }

    @Test func aDiscardedFileGivesItsStagingBufferBack() throws {
        try Self.withSpool { spool, budget, key in
            let writer = try #require(spool.begin(header: SpoolFileTests.header))
            try Self.write(TestEnvironment.randomBytes(2 * 1024 * 1024, seed: 13), to: writer)
            #expect(budget.inUse == DirectWrites.stagingSize)
            writer.discard()
            #expect(budget.inUse == 0)
        }
    }

    @Test func aKeptLargerFileWrittenOverDirectReadsBackOnlyItsOwnBytes() throws {
        try Self.withSpool { spool, budget, key in
            let first = try #require(spool.begin(header: SpoolFileTests.header))
            try Self.write(TestEnvironment.randomBytes(7 * 1024 * 1024, seed: 14), to: first)
            first.discard()
            #expect(spool.pool.count == 1)

            let bytes = TestEnvironment.randomBytes(3 * 1024 * 1024 + 777, seed: 15)
            let writer = try #require(spool.begin(header: SpoolFileTests.header))
            #expect(spool.pool.count == 0, "the kept file is written over")
            try Self.write(bytes, to: writer)
            #expect(writer.direct != nil)
            _ = try writer.finish(durable: true)
            #expect(try SpoolFileTests.readAll(writer.path, key: key).1 == bytes)
            let onDisk = try #require(FileManager.default.attributesOfItem(atPath: writer.path)[.size] as? Int)
            #expect(onDisk < 3 * 1024 * 1024 + 100_000, "the former store's bytes were cut off: \(onDisk)")
        }
    }

    @Test func aDirectWriteThatFailsBehindItsWriterIsReportedNotLost() throws {
        try SpoolFileTests.withDirectory { directory in
            // A descriptor that cannot be written: every direct write fails (EBADF), behind the writer.
            let path = directory + "/read-only"
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            #expect(descriptor >= 0)
            defer { close(descriptor) }
            let budget = MemoryBudget(capacity: 4 * 1024 * 1024)
            guard case .direct(let writes) = DirectWrites.begin(descriptor: descriptor, position: 0, budget: budget) else {
                return  // this filesystem refuses O_DIRECT: nothing runs behind
            }
            let half = [UInt8](repeating: 7, count: DirectWrites.halfSize)
            var reported: WriteFailure?
            do {
                try half.withUnsafeBytes { try writes.write([$0]) }  // its write starts behind
                try half.withUnsafeBytes { try writes.write([$0]) }  // waits for it
                try writes.finish()
            } catch {
                reported = error as? WriteFailure
            }
            #expect(reported?.errno == EBADF)
            writes.release()
            #expect(budget.inUse == 0)
        }
    }
}
