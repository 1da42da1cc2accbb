import Foundation
import Testing

@testable import Gateway

/// The retry queue's rows and state changes (issue 5 wires it to the spool and a replay worker).
struct UploadQueueTests {
    static let first = "0123456789abcdef0123456789abcdef"
    static let second = "fedcba9876543210fedcba9876543210"

    static func queue() throws -> UploadQueue { UploadQueue(database: try AppDatabase.inMemory()) }

    static func enqueue(_ queue: UploadQueue, _ name: String, account: String, lastError: String?, at time: Date) throws -> UploadQueue.Entry {
        try queue.enqueue(
            accountId: account,
            objectKey: name,
            requestPath: name,
            spoolFile: name + ".spool",
            size: 1,
            checksum: "sha256:" + name,
            lastError: lastError,
            now: time
        )
    }

    @Test func aPauseIsNotAppliedWhenTheAccountsChangedDuringTheAttempt() throws {
        let queue = try Self.queue()
        // The attempt used credentials loaded at revision 0; the account is updated meanwhile (revision 1).
        try queue.database.writer.write { db in try db.execute(sql: "UPDATE registry_revision SET revision = revision + 1") }
        #expect(try queue.pause(accountId: Self.first, reason: "SignatureDoesNotMatch", registryRevision: 0) == false)
        #expect(try queue.pausedAccounts().isEmpty)
        #expect(try queue.pause(accountId: Self.first, reason: "SignatureDoesNotMatch", registryRevision: 1))
        #expect(try queue.pausedAccounts() == [Self.first: "SignatureDoesNotMatch"])
        // Any change to the account resumes it (a trigger); `retryNow` for its rows does too.
        try queue.retryNow(accountId: Self.first)
        #expect(try queue.pausedAccounts().isEmpty)
    }

    @Test func claimingOnePerAccountTakesTheOldestRowOfEach() throws {
        let queue = try Self.queue()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let a1 = try Self.enqueue(queue, "a1", account: Self.first, lastError: nil, at: start)
        _ = try Self.enqueue(queue, "a2", account: Self.first, lastError: nil, at: start.addingTimeInterval(1))
        let b1 = try Self.enqueue(queue, "b1", account: Self.second, lastError: nil, at: start.addingTimeInterval(2))
        let claimed = try queue.claimDue(limit: 5, now: start.addingTimeInterval(10), onePerAccount: true)
        #expect(claimed.map(\.id) == [a1.id, b1.id])
    }

    @Test func dueRowsAreClaimedOnceOldestFirstAndSkipPausedAccounts() throws {
        let queue = try Self.queue()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let a = try Self.enqueue(queue, "a", account: Self.first, lastError: nil, at: start)
        let b = try Self.enqueue(queue, "b", account: Self.second, lastError: "SlowDown", at: start.addingTimeInterval(1))
        #expect(a.id != nil && b.id != nil)
        #expect(try queue.claimDue(limit: 10, now: start.addingTimeInterval(-1)).isEmpty)

        let claimed = try queue.claimDue(limit: 10, now: start.addingTimeInterval(5), excludingAccounts: [Self.second])
        #expect(claimed.map(\.objectKey) == ["a"])
        #expect(claimed.first?.state == .uploading)
        #expect(claimed.first?.attempts == 1)
        #expect(try queue.claimDue(limit: 10, now: start.addingTimeInterval(5), excludingAccounts: [Self.second]).isEmpty)

        let id = try #require(a.id)
        try queue.reschedule(id, error: "InternalError", nextAttempt: start.addingTimeInterval(60), now: start.addingTimeInterval(6))
        #expect(try queue.claimDue(limit: 10, now: start.addingTimeInterval(30)).map(\.objectKey) == ["b"])
        let again = try queue.claimDue(limit: 10, now: start.addingTimeInterval(61))
        #expect(again.map(\.objectKey) == ["a"])
        #expect(again.first?.attempts == 2)
        #expect(again.first?.lastError == "InternalError")
        try queue.markStored(id)
        #expect(try queue.list(state: .stored).map(\.objectKey) == ["a"])
        #expect(try queue.referencedSpoolFiles() == ["b.spool"])
    }

    @Test func interruptedRowsReturnAndOperatorsCanRetry() throws {
        let queue = try Self.queue()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let row = try Self.enqueue(queue, "a", account: Self.first, lastError: nil, at: start)
        _ = try queue.claimDue(limit: 1, now: start)
        #expect(try queue.recoverInterrupted() == 1)
        #expect(try queue.list(state: .pending).count == 1)
        let id = try #require(row.id)
        try queue.markFailed(id, reason: "spool file failed its integrity check")
        #expect(try queue.list(state: .failed, accountId: Self.first).first?.lastError == "spool file failed its integrity check")
        #expect(try queue.retryNow(accountId: Self.second) == 0)
        #expect(try queue.retryNow(accountId: Self.first, now: start) == 1)
        #expect(try queue.claimDue(limit: 5, now: start).count == 1)
    }
}
