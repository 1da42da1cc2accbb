import Foundation
import Logging
import NIOConcurrencyHelpers
import S3
import Spool
import Synchronization
import TestSupport
import Testing

@testable import Gateway

/// The replay worker's scheduling, on SQLite in memory with real time and a stand-in for S3 (each
/// attempt's outcome is chosen by the test): no poll wait while rows are due, turns between accounts,
/// the per-account cap, paused accounts probed once per backoff, and an outage's end releasing
/// the rows it held back.
struct ReplayWorkerTests {
    static let a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    static let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    static let c = "cccccccccccccccccccccccccccccccc"

    /// What the stand-in S3 answers each attempt.
    typealias Outcomes = @Sendable (QueuedUpload) -> Replayer.Outcome
    static let everyAttemptLands: Outcomes = { _ in .stored }

    /// What the stand-in S3 did: attempts in the order they began, the most running at once (overall
    /// and per account), and the order replays landed.
    final class Record: Sendable {
        struct State {
            var attempts: [String] = []
            var running: [String: Int] = [:]
            var mostRunning = 0
            var mostRunningPerAccount = 0
            var landed: [String] = []
        }

        let state = NIOLockedValueBox(State())

        func begin(_ accountId: String) {
            state.withLockedValue { state in
                state.attempts.append(accountId)
                state.running[accountId, default: 0] += 1
                state.mostRunning = max(state.mostRunning, state.running.values.reduce(0, +))
                state.mostRunningPerAccount = max(state.mostRunningPerAccount, state.running[accountId] ?? 0)
            }
        }

        func end(_ accountId: String, landed: Bool) {
            state.withLockedValue { state in
                state.running[accountId, default: 1] -= 1
                if landed { state.landed.append(accountId) }
            }
        }

        func attempts(_ accountId: String) -> Int { state.withLockedValue { $0.attempts.count { $0 == accountId } } }
    }

    /// Runs a worker over a fresh ledger while `body` runs; `outcome` decides each attempt.
    static func with(
        concurrency: Int = 4,
        perAccount: Int = 2,
        backoff: RetryPolicy = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(600), maxDelay: .seconds(1200)),
        attemptTime: Duration = .milliseconds(2),
        outcome: @escaping Outcomes,
        _ body: (RecordingLedger, SQLiteDatabase, Record) async throws -> Void
    ) async throws {
        let realTime: @Sendable () -> Date = { Date() }
        try await RecordingLedgerTests.with(backoff: backoff, now: realTime) { ledger, storage in
            let logger = Logger(label: "worker-test")
            let record = Record()
            let replayer = Replayer(ledger: ledger, observer: nil, logger: logger) { entry, _ in
                record.begin(entry.accountId)
                try? await Task.sleep(for: attemptTime)
                let result = outcome(entry)
                record.end(entry.accountId, landed: result == .stored)
                guard result == .stored else { return Replayer.Attempt(result: result, registryRevision: nil) }
                return Replayer.Attempt(result: .stored, stored: RecordingLedgerTests.object(entry))
            }
            let worker = ReplayWorker(
                replayer: replayer,
                limits: ReplayLimits(concurrency: concurrency, perAccount: perAccount),
                pollInterval: .seconds(600),
                liveLoad: { 0 },
                refreshAccounts: {},
                logger: logger
            )
            let running = Task { try await worker.run() }
            defer { running.cancel() }
            try await body(ledger, storage, record)
        }
    }

    /// Queues `count` rows of `accountId`, due at `due` (now by default).
    static func queue(_ storage: SQLiteDatabase, _ accountId: String, _ count: Int, due: Date = Date()) async throws {
        for index in 0..<count {
            let name = "\(accountId)/\(index)-\(UUID().uuidString).mp3"
            let object = StoredObject(
                accountId: accountId,
                requestPath: name,
                objectKey: name,
                size: 1,
                checksum: "sha256:x",
                etag: nil,
                contentType: nil,
                storedAt: Date()
            )
            let row = QueuedUpload(
                accountId: accountId,
                objectKey: name,
                requestPath: name,
                spoolFile: UUID().uuidString + ".spool",
                size: 1,
                checksum: "sha256:x",
                nextAttemptAt: due,
                lastError: "S3 down",
                createdAt: Date(),
                updatedAt: Date()
            )
            _ = try await storage.enqueue(row, indexing: object)
        }
    }

    static func waiting(_ storage: SQLiteDatabase, _ accountId: String) async throws -> Int {
        try await storage.uploads(state: nil, accountId: accountId).count { $0.state != .stored }
    }

    @Test func aBacklogDrainsWithoutWaitingForThePollAtTheConcurrencyAllowed() async throws {
        try await Self.with(outcome: Self.everyAttemptLands) { ledger, storage, record in
            try await Self.queue(storage, Self.a, 60)
            try await Self.queue(storage, Self.b, 60)
            ledger.replaysDue.signal()
            // 120 rows at 4 at a time, 2 ms each: a fraction of a second of work (more on a busy runner); the poll is
            // ten minutes.
            #expect(try await eventually(120) { try await storage.uploads(state: .stored).count == 120 })
            let state = record.state.withLockedValue { $0 }
            #expect(state.mostRunning == 4, "up to replay_concurrency at once")
            #expect(state.mostRunningPerAccount == 2, "no account above its cap")
        }
    }

    @Test func accountsTakeTurnsSoASmallBacklogIsNotStuckBehindABigOne() async throws {
        try await Self.with(outcome: Self.everyAttemptLands) { ledger, storage, record in
            try await Self.queue(storage, Self.a, 150)
            try await Self.queue(storage, Self.b, 10, due: Date().addingTimeInterval(0.01))
            ledger.replaysDue.signal()
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.b) == 0 })
            let landed = record.state.withLockedValue { $0.landed }
            let bLast = try #require(landed.lastIndex(of: Self.b))
            // Turns about: b's ten land within its first ~20 replays, not after a's 150.
            #expect(bLast < 40, "b's last row landed as replay \(bLast + 1)")
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.a) == 0 })
            #expect(record.state.withLockedValue { $0.mostRunningPerAccount } <= 2)
        }
    }

    @Test func aPausedAccountCostsOneAttemptPerBackoffAndResumesWhenItsProbeLands() async throws {
        let fixed = Atomic<Bool>(false)
        // The rows' backoff is 0.5 s, doubling to 1 s; probes come about that often.
        let backoff = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(500), maxDelay: .seconds(1))
        let outcome: Outcomes = { entry in
            entry.accountId == Self.c && !fixed.load(ordering: .relaxed) ? .paused("InvalidAccessKeyId") : .stored
        }
        try await Self.with(backoff: backoff, outcome: outcome) { ledger, storage, record in
            try await Self.queue(storage, Self.c, 50)
            try await Self.queue(storage, Self.a, 40)
            ledger.replaysDue.signal()
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.a) == 0 }, "the paused account holds no slot")
            #expect(try await eventually { try await storage.accountPauses()[Self.c] != nil })
            let before = record.attempts(Self.c)
            try await Task.sleep(for: .seconds(3))
            let during = record.attempts(Self.c) - before
            // Three seconds at a backoff of 0.5, then 1 s (jitter in the upper half): about three probes.
            let pause = try #require(try await storage.accountPauses()[Self.c])
            #expect(during >= 1 && during <= 5, "\(during) attempts in 3 s: \(pause)")
            #expect(pause.probes >= 1)
            #expect(try await Self.waiting(storage, Self.c) == 50, "nothing of it lands while S3 refuses it")

            // S3 takes it again (the customer fixed their IAM policy): the next probe lands, the pause
            // ends, and the other 49 rows go at once.
            fixed.store(true, ordering: .relaxed)
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.c) == 0 })
            #expect(try await storage.accountPauses().isEmpty)
        }
    }

    @Test func anOperatorsRetryOfAPausedAccountDrainsItAtOnce() async throws {
        let fixed = Atomic<Bool>(false)
        let outcome: Outcomes = { _ in fixed.load(ordering: .relaxed) ? .stored : .paused("SignatureDoesNotMatch") }
        try await Self.with(outcome: outcome) {
            ledger,
            storage,
            _ in
            try await Self.queue(storage, Self.c, 20)
            ledger.replaysDue.signal()
            #expect(try await eventually { try await storage.accountPauses()[Self.c] != nil })
            fixed.store(true, ordering: .relaxed)
            // Probes wait ten minutes here; `queue retry --account` (or an account update) does not.
            _ = try await ledger.retryNow(accountId: Self.c)
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.c) == 0 })
        }
    }

    @Test func aReplayThatLandsAfterAnOutageReleasesTheRowsItsBackoffHeldBack() async throws {
        let up = Atomic<Bool>(false)
        let outcome: Outcomes = { _ in up.load(ordering: .relaxed) ? .stored : .retryLater("connection refused") }
        try await Self.with(outcome: outcome) { ledger, storage, _ in
            try await Self.queue(storage, Self.a, 30)
            ledger.replaysDue.signal()
            // Every row fails once and waits ten minutes (the backoff here).
            #expect(
                try await eventually(120) { try await storage.uploads(accountId: Self.a).allSatisfy { $0.attempts == 1 && $0.state == .pending } }
            )
            up.store(true, ordering: .relaxed)
            // One new row, due now, lands; the 30 held back go with it rather than in ten minutes.
            try await Self.queue(storage, Self.a, 1)
            ledger.replaysDue.signal()
            #expect(try await eventually(120) { try await Self.waiting(storage, Self.a) == 0 })
        }
    }

    @Test func turnsRotateOverAccountsAndRespectCapsAndProbes() {
        var rotation = ReplayRotation(perAccount: 2)
        let now = Date()
        let due = [Self.a: 100, Self.b: 1, Self.c: 5]
        #expect(rotation.shares(free: 4, due: due, running: [:], paused: [:], now: now) == [Self.a: 2, Self.b: 1, Self.c: 1])
        #expect(rotation.lastServed == Self.a, "a got the fourth slot, after c")
        // The next turn starts after a.
        #expect(rotation.shares(free: 1, due: due, running: [:], paused: [:], now: now) == [Self.b: 1])
        #expect(rotation.shares(free: 5, due: due, running: [Self.a: 2], paused: [:], now: now) == [Self.b: 1, Self.c: 2], "a is at its cap")
        let pause = AccountPause(reason: "AccessDenied", pausedAt: now, probes: 0, nextProbeAt: now.addingTimeInterval(5))
        #expect(rotation.shares(free: 8, due: due, running: [:], paused: [Self.a: pause], now: now) == [Self.b: 1, Self.c: 2])
        var probeDue = pause
        probeDue.nextProbeAt = now
        #expect(rotation.shares(free: 8, due: due, running: [:], paused: [Self.a: probeDue], now: now)[Self.a] == 1, "one probe")
        #expect(rotation.shares(free: 8, due: due, running: [Self.a: 1], paused: [Self.a: probeDue], now: now)[Self.a] == nil, "one probe at a time")
        #expect(rotation.shares(free: 0, due: due, running: [:], paused: [:], now: now).isEmpty)
    }
}
