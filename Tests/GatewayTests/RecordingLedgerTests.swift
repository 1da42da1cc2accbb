import Foundation
import Logging
import S3
import Spool
import TestSupport
import Testing

@testable import Gateway

/// Each event the ledger takes, with the index row, queue row, spool file and waiting-list changes that
/// go with it, on SQLite in memory and a spool directory of its own, with time and randomness injected.
struct RecordingLedgerTests {
    static let account = "0123456789abcdef0123456789abcdef"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A ledger over fresh storage and a fresh spool directory (removed after `body`), its time `now` (fixed
    /// at `start` unless told) and its jitter at the top of the range.
    static func with(
        backoff: RetryPolicy = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(4), maxDelay: .seconds(64)),
        now: @escaping @Sendable () -> Date = { start },
        _ body: (RecordingLedger, SQLiteDatabase) async throws -> Void
    ) async throws {
        let directory = NSTemporaryDirectory() + "rg-ledger-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try SQLiteDatabase.inMemory()
        let logger = Logger(label: "ledger-test")
        let spool = try Spool(settings: .init(directory: directory), masterKey: .init(size: .bits256), exclusive: true, logger: logger)
        let ledger = RecordingLedger(
            queue: storage,
            index: storage,
            spool: spool,
            locator: ObjectLocator(index: storage),
            replayBackoff: backoff,
            now: now,
            random: { 1 },
            logger: logger
        )
        try await body(ledger, storage)
    }

    static func header(_ key: String) -> SpoolFile.Header {
        SpoolFile.Header(accountId: account, objectKey: "rec/" + key, requestPath: key, contentType: "audio/mpeg", metadata: [:])
    }

    /// received → pending, as a store S3 refused.
    static func spool(_ ledger: RecordingLedger, _ key: String, bytes: [UInt8] = [1, 2, 3]) async throws -> QueuedUpload {
        let writer = try #require(ledger.received(header(key)))
        try bytes.withUnsafeBytes { try writer.write($0) }
        return try await ledger.spooled(
            writer,
            accountId: account,
            key: "rec/" + key,
            requestPath: key,
            contentType: "audio/mpeg",
            reason: "S3 down"
        )
    }

    static func object(_ entry: QueuedUpload) -> StoredObject {
        StoredObject(
            accountId: entry.accountId,
            requestPath: entry.requestPath,
            objectKey: entry.objectKey,
            size: entry.size,
            checksum: entry.checksum,
            etag: "\"etag\"",
            contentType: "audio/mpeg",
            storedAt: start
        )
    }

    @Test func receivedThenS3ConfirmedIndexesTheObjectAndDropsTheWriteAheadFile() async throws {
        try await Self.with { ledger, storage in
            let writer = try #require(ledger.received(Self.header("a.mp3")))
            try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try writer.write($0) }
            #expect(FileManager.default.fileExists(atPath: writer.path))
            var object = Self.object(
                QueuedUpload(
                    accountId: Self.account,
                    objectKey: "rec/a.mp3",
                    requestPath: "a.mp3",
                    spoolFile: "",
                    size: 100,
                    checksum: "c",
                    nextAttemptAt: Self.start,
                    lastError: nil,
                    createdAt: Self.start,
                    updatedAt: Self.start
                )
            )
            object.size = 100
            await ledger.stored(object, spoolFile: writer, logger: Logger(label: "test"))
            #expect(!FileManager.default.fileExists(atPath: writer.path))
            #expect(try await storage.longestStoredPrefix(accountId: Self.account, segments: ["a.mp3"])?.key == "rec/a.mp3")
            #expect(ledger.locator.remembered(accountId: Self.account, segments: ["a.mp3", "a.mp3"])?.key == "rec/a.mp3")
            #expect(try await storage.uploads().isEmpty)
        }
    }

    @Test func receivedThenAbandonedKeepsNothing() async throws {
        try await Self.with { ledger, storage in
            let writer = try #require(ledger.received(Self.header("a.mp3")))
            try [UInt8](repeating: 7, count: 100).withUnsafeBytes { try writer.write($0) }
            ledger.abandoned(writer)
            #expect(Spool.spoolFiles(in: ledger.spool.settings.directory).isEmpty)
            #expect(ledger.spool.usage.bytes == 0)
            #expect(try await storage.uploads().isEmpty)
            #expect(try await storage.objectCount(accountId: Self.account) == 0)
        }
    }

    @Test func receivedThenSpooledIsDurableQueuedIndexedAndServedFromTheSpool() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            #expect(entry.state == .pending)
            #expect(entry.size == 3)
            // The first attempt is due after the first backoff (full jitter at its top: 4 s).
            #expect(entry.nextAttemptAt == Self.start.addingTimeInterval(4))
            #expect(try await storage.upload(id)?.lastError == "S3 down")
            #expect(try await storage.longestStoredPrefix(accountId: Self.account, segments: ["a.mp3"])?.key == "rec/a.mp3")
            #expect(FileManager.default.fileExists(atPath: ledger.spool.path(entry.spoolFile)))
            #expect(ledger.isWaitingInSpool(accountId: Self.account, key: "rec/a.mp3"))
            let copy = try #require(ledger.spooledCopy(accountId: Self.account, key: "rec/a.mp3"))
            #expect(copy.size == 3)
            #expect(try copy.reader.next() == [1, 2, 3])
        }
    }

    @Test func replayedRowsAreStoredAndTheirSpoolFileGoes() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            #expect(try await ledger.claimNextDue() == nil, "not due before its backoff")
            let claimed = try #require(try await ledger.claim(id))
            #expect(claimed.state == .uploading)
            try await ledger.replayed(claimed, as: Self.object(claimed))
            #expect(try await storage.upload(id)?.state == .stored)
            #expect(!FileManager.default.fileExists(atPath: ledger.spool.path(entry.spoolFile)))
            #expect(!ledger.isWaitingInSpool(accountId: Self.account, key: "rec/a.mp3"))
            #expect(ledger.waitingCount == 0)
        }
    }

    @Test func aReplayThatFailsForGoodKeepsTheFileForTheOperator() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            let claimed = try #require(try await ledger.claim(id))
            try await ledger.replayFailed(claimed, reason: "integrity")
            #expect(try await storage.upload(id)?.state == .failed)
            #expect(FileManager.default.fileExists(atPath: ledger.spool.path(entry.spoolFile)))
            // failed → pending (retried) → discarded: the row and the file go.
            #expect(try await ledger.retryNow(id: entry.id) == 1)
            let row = try #require(try await storage.upload(id))
            try await ledger.discard(row)
            #expect(try await storage.upload(id) == nil)
            #expect(!FileManager.default.fileExists(atPath: ledger.spool.path(entry.spoolFile)))
            #expect(!ledger.isWaitingInSpool(accountId: Self.account, key: "rec/a.mp3"))
        }
    }

    @Test func deferredAndPausedReplaysArePendingAgain() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            var claimed = try #require(try await ledger.claim(id))
            #expect(try await ledger.replayDeferred(claimed, reason: "SlowDown") == 4)
            let deferred = try #require(try await storage.upload(id))
            #expect(deferred.state == .pending && deferred.nextAttemptAt == Self.start.addingTimeInterval(4))

            _ = try await ledger.retryNow(id: id)
            claimed = try #require(try await ledger.claim(id))
            #expect(try await ledger.replayPaused(claimed, reason: "InvalidAccessKeyId", registryRevision: nil))
            let paused = try #require(try await storage.upload(id))
            #expect(paused.state == .pending && paused.nextAttemptAt == Self.start, "due at once, held back by the pause")
            #expect(try await ledger.pausedAccounts() == [Self.account: "InvalidAccessKeyId"])
            claimed = try #require(try await ledger.claim(id))
            #expect(try await ledger.replayPaused(claimed, reason: "again", registryRevision: nil) == false, "already paused")
        }
    }

    @Test func changesTheLifecycleForbidsAreRefusedAndChangeNothing() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            await #expect(throws: LifecycleError.self) { try await ledger.replayed(entry, as: Self.object(entry)) }
            await #expect(throws: LifecycleError.self) { try await ledger.replayFailed(entry, reason: "x") }
            #expect(try await storage.upload(id)?.state == .pending)
            #expect(FileManager.default.fileExists(atPath: ledger.spool.path(entry.spoolFile)))
        }
    }

    @Test func recoveryReturnsInterruptedRowsRemovesUnacknowledgedFilesAndListsWaitingOnes() async throws {
        try await Self.with { ledger, storage in
            let entry = try await Self.spool(ledger, "a.mp3")
            let id = try #require(entry.id)
            _ = try await ledger.claim(id)
            // A store that died before its acknowledgement left a file no row refers to.
            let orphan = try #require(ledger.received(Self.header("b.mp3")))
            try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try orphan.write($0) }
            _ = try orphan.finish(durable: true)

            let recovered = try await ledger.recover()
            #expect(recovered.interrupted == 1 && recovered.unreferenced == 1)
            #expect(try await storage.upload(id)?.state == .pending)
            #expect(Spool.spoolFiles(in: ledger.spool.settings.directory) == [entry.spoolFile])
            #expect(ledger.isWaitingInSpool(accountId: Self.account, key: "rec/a.mp3"))
        }
    }

    @Test func storedRowsPastTheirHistoryAreForgottenInBatchesAndWaitingOnesStay() async throws {
        // Time is 30 days and one hour after start: rows S3 took at start are past a 30-day history.
        let later = Self.start.addingTimeInterval(30 * 86_400 + 3600)
        let now: @Sendable () -> Date = { later }
        try await Self.with(now: now) { ledger, storage in
            var old: [QueuedUpload] = []
            for index in 0..<7 { old.append(try await Self.spool(ledger, "old\(index).mp3")) }
            let recent = try await Self.spool(ledger, "recent.mp3")
            let waiting = try await Self.spool(ledger, "waiting.mp3")
            for entry in old + [recent] {
                let id = try #require(entry.id)
                _ = try await storage.claim(id, now: Self.start)
                let replayedAt = entry.id == recent.id ? later.addingTimeInterval(-86_400) : Self.start
                try await storage.markStored(id, indexing: Self.object(entry), now: replayedAt)
            }
            #expect(try await ledger.forgetStored(olderThan: 30 * 86_400, batch: 3) == 7, "three batches: 3, 3 and 1")
            #expect(try await storage.uploads().compactMap(\.id) == [recent.id, waiting.id].compactMap { $0 })

            // The service does the same with the configured days, and logs what it forgot.
            let log = CapturedLog()
            try await storage.markStored(try #require(recent.id), indexing: Self.object(recent), now: Self.start)
            await QueueHistoryPruner(ledger: ledger, historyDays: 30, logger: log.logger).prune()
            #expect(try await storage.uploads().compactMap(\.id) == [waiting.id].compactMap { $0 })
            #expect(log.all.contains { $0.contains("rows=1") && $0.contains("days=30") })
            await QueueHistoryPruner(ledger: ledger, historyDays: 31, logger: log.logger).prune()
            #expect(try await storage.upload(try #require(waiting.id))?.state == .pending)

            // Recovery lists the waiting recording (it reads only rows not yet stored).
            _ = try await ledger.recover()
            #expect(ledger.isWaitingInSpool(accountId: Self.account, key: "rec/waiting.mp3"))
        }
    }
}
