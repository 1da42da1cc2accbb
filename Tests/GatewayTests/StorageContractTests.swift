import Foundation
import Testing

@testable import Gateway

/// What every storage behind the seam must do (accounts, the object index, the upload queue, paused
/// accounts), written against the protocols and run on each implementation: SQLite, and PostgreSQL (the
/// test command's server, a new database per test).
struct StorageContractTests {
    enum StorageKind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite
        case postgres
        var testDescription: String { rawValue }

        /// A fresh, empty storage (PostgreSQL: a new database on the test command's server).
        func make() async throws -> any GatewayStorage {
            switch self {
            case .sqlite: try SQLiteDatabase.inMemory()
            case .postgres: try await TestPostgres.open()
            }
        }
    }

    static let first = "0123456789abcdef0123456789abcdef"
    static let second = "fedcba9876543210fedcba9876543210"
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func record(_ id: String, name: String = "Clinic", token: String = "hash") -> AccountRecord {
        AccountRecord(
            accountId: id,
            name: name,
            bucket: "bucket",
            host: "s3.us-west-1.amazonaws.com",
            region: nil,
            scheme: "https",
            pathStyle: false,
            accessKeyId: "AKIDEXAMPLE",
            sealedSecret: Data([1, 2, 3]),
            keyPrefix: "",
            sse: "AES256",
            kmsKeyId: nil,
            storageClass: nil,
            downloadMode: "redirect",
            presignExpirySeconds: nil,
            enabled: true,
            tokenHash: token + id,
            createdAt: start,
            updatedAt: start
        )
    }

    static func object(_ path: String, account: String = first, key: String? = nil, at time: Date = start) -> StoredObject {
        StoredObject(
            accountId: account,
            requestPath: path,
            objectKey: key ?? "rec/" + path,
            size: 1,
            checksum: "sha256:" + path,
            etag: nil,
            contentType: "audio/mpeg",
            storedAt: time
        )
    }

    static func enqueue(
        _ queue: any UploadQueueStorage,
        _ name: String,
        account: String,
        lastError: String?,
        at time: Date
    ) async throws
        -> QueuedUpload
    {
        try await queue.enqueue(
            QueuedUpload(
                accountId: account,
                objectKey: name,
                requestPath: name,
                spoolFile: name + ".spool",
                size: 1,
                checksum: "sha256:" + name,
                nextAttemptAt: time,
                lastError: lastError,
                createdAt: time,
                updatedAt: time
            ),
            indexing: object(name, account: account, key: name, at: time)
        )
    }

    // MARK: Accounts

    @Test(arguments: StorageKind.allCases)
    func accountsAreAddedOnceChangedInOneStepAndEveryChangeMovesTheRevision(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        let before = try await storage.registryRevision()
        #expect(try await storage.insertAccount(Self.record(Self.first, name: "B")))
        #expect(try await storage.insertAccount(Self.record(Self.first, name: "other")) == false, "an existing id is refused")
        #expect(try await storage.account(Self.first)?.name == "B", "and changes nothing")
        #expect(try await storage.insertAccount(Self.record(Self.second, name: "A")))
        let added = try await storage.registryRevision()
        #expect(added > before)
        #expect(try await storage.accounts().map(\.accountId) == [Self.second, Self.first], "by name")

        let updated = try await storage.updateAccount(Self.first) { $0.name = "C" }
        #expect(updated?.name == "C")
        #expect(try await storage.account(Self.first)?.name == "C")
        #expect(try await storage.updateAccount("missing") { $0.name = "x" } == nil)
        let changed = try await storage.registryRevision()
        #expect(changed > added)

        #expect(try await storage.deleteAccount(Self.first))
        #expect(try await storage.deleteAccount(Self.first) == false)
        let (revision, records) = try await storage.accountsWithRevision()
        #expect(revision > changed)
        #expect(records.map(\.accountId) == [Self.second])
    }

    @Test(arguments: StorageKind.allCases)
    func aFailedChangeChangesNothing(_ kind: StorageKind) async throws {
        struct Refused: Error {}
        let storage = try await kind.make()
        #expect(try await storage.insertAccount(Self.record(Self.first, name: "B")))
        let revision = try await storage.registryRevision()
        await #expect(throws: Refused.self) {
            _ = try await storage.updateAccount(Self.first) { record in
                record.name = "changed"
                throw Refused()
            }
        }
        #expect(try await storage.account(Self.first)?.name == "B")
        #expect(try await storage.registryRevision() == revision)
    }

    @Test(arguments: StorageKind.allCases)
    func waitingForAccountChangesEndsByItsTimeout(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        let started = ContinuousClock.now
        try await storage.waitForAccountChanges(timeout: .milliseconds(20))
        #expect(ContinuousClock.now - started < .seconds(10), "the directory's reload loop is never stuck on it")
    }

    @Test(arguments: StorageKind.allCases)
    func theMasterKeyCheckValueIsStoredOnce(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        #expect(try await storage.holdsSealedSecrets() == false)
        #expect(try await storage.masterKeyCheckValue() == nil)
        #expect(try await storage.storeMasterKeyCheckValue(Data([1])) == Data([1]))
        #expect(try await storage.storeMasterKeyCheckValue(Data([2])) == Data([1]), "the first value stays")
        #expect(try await storage.masterKeyCheckValue() == Data([1]))
        #expect(try await storage.holdsSealedSecrets())
    }

    // MARK: The object index

    @Test(arguments: StorageKind.allCases)
    func theLongestStoredPrefixOfAFetchedPathIsFound(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        try await storage.record(Self.object("a"))
        try await storage.record(Self.object("a/b.mp3"))
        try await storage.record(Self.object("a/b.mp3", account: Self.second, key: "other"))
        let found = try await storage.longestStoredPrefix(accountId: Self.first, segments: ["a", "b.mp3", "a", "b.mp3"])
        #expect(found == IndexedPath(requestPath: "a/b.mp3", key: "rec/a/b.mp3", contentType: "audio/mpeg"))
        #expect(try await storage.longestStoredPrefix(accountId: Self.first, segments: ["x"]) == nil)
        #expect(try await storage.longestStoredPrefix(accountId: Self.first, segments: []) == nil)
        // The same path again is the same object: replaced, not doubled.
        try await storage.record(Self.object("a/b.mp3", key: "rec/new"))
        #expect(try await storage.longestStoredPrefix(accountId: Self.first, segments: ["a", "b.mp3"])?.key == "rec/new")
        #expect(try await storage.objectCount(accountId: Self.first) == 2)
    }

    @Test(arguments: StorageKind.allCases)
    func lastStoreTimesArePerAccount(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        try await storage.record(Self.object("a", at: Self.start))
        try await storage.record(Self.object("b", at: Self.start.addingTimeInterval(60)))
        let times = try await storage.lastStoreTimes(accountIds: [Self.first, Self.second])
        #expect(times == [Self.first: Self.start.addingTimeInterval(60)])
    }

    // MARK: The upload queue and paused accounts

    @Test(arguments: StorageKind.allCases)
    func aPauseIsNotAppliedWhenTheAccountsChangedDuringTheAttempt(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let probe = Self.start.addingTimeInterval(5)
        func pause(_ reason: String, revision: Int?, probes: Int = 0, at time: Date = probe) async throws -> Bool {
            try await queue.pause(
                accountId: Self.first,
                reason: reason,
                registryRevision: revision,
                probes: probes,
                nextProbeAt: time,
                now: Self.start
            )
        }
        // The attempt used credentials loaded at this revision; the accounts change meanwhile.
        let attempted = try await queue.registryRevision()
        #expect(try await queue.insertAccount(Self.record(Self.second)))
        let now = try await queue.registryRevision()
        #expect(try await pause("SignatureDoesNotMatch", revision: attempted) == false)
        #expect(try await queue.accountPauses().isEmpty)
        #expect(try await pause("SignatureDoesNotMatch", revision: now))
        #expect(
            try await queue.accountPauses()[Self.first]
                == AccountPause(reason: "SignatureDoesNotMatch", pausedAt: Self.start, probes: 0, nextProbeAt: probe)
        )
        // A failed probe: counted, the next one later; the first reason and time stay.
        let later = Self.start.addingTimeInterval(60)
        #expect(try await pause("later reason", revision: nil, probes: 1, at: later))
        #expect(
            try await queue.accountPauses()[Self.first]
                == AccountPause(reason: "SignatureDoesNotMatch", pausedAt: Self.start, probes: 1, nextProbeAt: later)
        )
        // `retryNow` for the account's rows resumes it.
        _ = try await queue.retryNow(id: nil, accountId: Self.first, now: Self.start)
        #expect(try await queue.accountPauses().isEmpty)
    }

    @Test(arguments: StorageKind.allCases)
    func changingAnAccountResumesItsReplaysAndMakesItsRowsDue(_ kind: StorageKind) async throws {
        let storage = try await kind.make()
        #expect(try await storage.insertAccount(Self.record(Self.first)))
        let later = Date().addingTimeInterval(3600)
        _ = try await Self.enqueue(storage, "deferred", account: Self.first, lastError: "InvalidAccessKeyId", at: later)
        _ = try await Self.enqueue(storage, "other", account: Self.second, lastError: nil, at: later)
        #expect(
            try await storage.pause(
                accountId: Self.first,
                reason: "InvalidAccessKeyId",
                registryRevision: nil,
                probes: 0,
                nextProbeAt: later,
                now: Self.start
            )
        )
        _ = try await storage.updateAccount(Self.first) { $0.sealedSecret = Data([9]) }
        #expect(try await storage.accountPauses().isEmpty)
        let outlook = try await storage.replayOutlook(now: Date().addingTimeInterval(1))
        #expect(outlook.due == [Self.first: 1], "the changed account's row is due now, the other account's is not")
        #expect(abs((outlook.nextDueAt ?? .distantPast).timeIntervalSince(later)) < 0.01, "stored to the millisecond")
    }

    @Test(arguments: StorageKind.allCases)
    func theOutlookCountsDueRowsByAccountAndClaimsTakeEachShareOldestFirst(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let start = Self.start
        var first: [QueuedUpload] = []
        for index in 0..<3 {
            first.append(try await Self.enqueue(queue, "a\(index)", account: Self.first, lastError: nil, at: start.addingTimeInterval(Double(index))))
        }
        let b0 = try await Self.enqueue(queue, "b0", account: Self.second, lastError: nil, at: start.addingTimeInterval(0.5))
        _ = try await Self.enqueue(queue, "b1", account: Self.second, lastError: nil, at: start.addingTimeInterval(100))
        #expect(
            try await queue.pause(accountId: Self.second, reason: "AccessDenied", registryRevision: nil, probes: 0, nextProbeAt: start, now: start)
        )

        let outlook = try await queue.replayOutlook(now: start.addingTimeInterval(10))
        #expect(outlook.due == [Self.first: 3, Self.second: 1])
        #expect(outlook.nextDueAt == start.addingTimeInterval(100))
        #expect(outlook.paused.keys.sorted() == [Self.second])

        let claimed = try await queue.claimDue([Self.first: 2, Self.second: 5], now: start.addingTimeInterval(10))
        #expect(claimed.map(\.id) == [first[0].id, first[1].id, b0.id], "each account's oldest due rows, no more than its share")
        #expect(claimed.allSatisfy { $0.state == .uploading && $0.attempts == 1 })
        #expect(try await queue.claimDue([Self.first: 5], now: start.addingTimeInterval(10)).map(\.id) == [first[2].id])
        #expect(try await queue.claimDue([Self.first: 5, Self.second: 5], now: start.addingTimeInterval(10)).isEmpty, "claimed once")
        #expect(try await queue.replayOutlook(now: start.addingTimeInterval(10)).due.isEmpty)
    }

    @Test(arguments: StorageKind.allCases)
    func storedRowsCountTowardTheRateAndSayWhatIsLeftOfTheirAccount(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let start = Self.start
        let a = try await Self.enqueue(queue, "a", account: Self.first, lastError: nil, at: start)
        let b = try await Self.enqueue(queue, "b", account: Self.first, lastError: "SlowDown", at: start.addingTimeInterval(1))
        #expect(a.id != nil && b.id != nil)
        #expect(try await queue.longestStoredPrefix(accountId: Self.first, segments: ["a"])?.key == "a", "enqueued with its index row")
        #expect(try await queue.claimDue([Self.first: 10], now: start.addingTimeInterval(-1)).isEmpty, "not due yet")

        let claimed = try await queue.claimDue([Self.first: 1], now: start.addingTimeInterval(5))
        #expect(claimed.map(\.objectKey) == ["a"])
        let id = try #require(a.id)
        try await queue.reschedule(id, error: "InternalError", nextAttempt: start.addingTimeInterval(60), now: start.addingTimeInterval(6))
        #expect(try await queue.claimDue([Self.first: 10], now: start.addingTimeInterval(30)).map(\.objectKey) == ["b"])
        let again = try await queue.claimDue([Self.first: 10], now: start.addingTimeInterval(61))
        #expect(again.map(\.objectKey) == ["a"])
        #expect(again.first?.attempts == 2)
        #expect(again.first?.lastError == "InternalError")
        #expect(
            try await queue.markStored(id, indexing: Self.object("a", key: "a-etag"), now: start.addingTimeInterval(62)) == 1,
            "b is still uploading"
        )
        #expect(try await queue.uploads(state: .stored).map(\.objectKey) == ["a"])
        #expect(try await queue.longestStoredPrefix(accountId: Self.first, segments: ["a"])?.key == "a-etag", "stored with its index row")
        #expect(try await queue.referencedSpoolFiles() == ["b.spool"])
        let snapshot = try await queue.queueSnapshot(now: start.addingTimeInterval(65))
        #expect(snapshot.counts[.stored] == 1 && snapshot.counts[.uploading] == 1)
        #expect(snapshot.recentlyReplayed == 1 && snapshot.depth == 1)
        #expect(snapshot.estimatedDrainSeconds == QueueSnapshot.rateWindow)
        #expect(try await queue.queueSnapshot(now: start.addingTimeInterval(62 + QueueSnapshot.rateWindow + 1)).recentlyReplayed == 0)
        #expect(try await queue.waitingCountsByAccount() == [Self.first: [.uploading: 1]])
        #expect(
            try await queue.markStored(try #require(b.id), indexing: Self.object("b"), now: start.addingTimeInterval(63)) == 0,
            "the backlog is empty"
        )
    }

    @Test(arguments: StorageKind.allCases)
    func resumingAnAccountEndsItsPauseAndMakesItsRowsDueNow(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let start = Self.start
        _ = try await Self.enqueue(queue, "a", account: Self.first, lastError: nil, at: start.addingTimeInterval(600))
        _ = try await Self.enqueue(queue, "b", account: Self.first, lastError: nil, at: start)
        _ = try await Self.enqueue(queue, "c", account: Self.second, lastError: nil, at: start.addingTimeInterval(600))
        #expect(
            try await queue.pause(accountId: Self.first, reason: "AccessDenied", registryRevision: nil, probes: 2, nextProbeAt: start, now: start)
        )
        #expect(try await queue.resume(accountId: Self.first, now: start.addingTimeInterval(1)) == 1)
        #expect(try await queue.accountPauses().isEmpty)
        #expect(try await queue.replayOutlook(now: start.addingTimeInterval(1)).due == [Self.first: 2])
    }

    @Test(arguments: StorageKind.allCases)
    func interruptedRowsReturnAndOperatorsCanRetry(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let start = Self.start
        let row = try await Self.enqueue(queue, "a", account: Self.first, lastError: nil, at: start)
        _ = try await queue.claimDue([Self.first: 1], now: start)
        #expect(try await queue.recoverInterrupted(now: start) == 1)
        #expect(try await queue.uploads(state: .pending).count == 1)
        let id = try #require(row.id)
        #expect(try await queue.claim(id, now: start)?.state == .uploading)
        #expect(try await queue.claim(id, now: start) == nil, "only a pending row is claimed")
        try await queue.markFailed(id, reason: "spool file failed its integrity check", now: start)
        #expect(try await queue.uploads(state: .failed, accountId: Self.first).first?.lastError == "spool file failed its integrity check")
        #expect(try await queue.retryNow(id: nil, accountId: Self.second, now: start) == 0)
        #expect(try await queue.retryNow(id: nil, accountId: Self.first, now: start) == 1)
        #expect(try await queue.claimDue([Self.first: 5], now: start).count == 1)
        try await queue.delete(id)
        #expect(try await queue.upload(id) == nil)
        #expect(try await queue.uploads(state: nil, accountId: nil, limit: 1).isEmpty)
    }

    @Test(arguments: StorageKind.allCases)
    func storedRowsAreForgottenOldestFirstAndWaitingOnesNever(_ kind: StorageKind) async throws {
        let queue = try await kind.make()
        let start = Self.start
        // Five rows S3 took at start+10 ... start+50; an old pending row and an old failed one beside them.
        var stored: [Int64] = []
        for index in 1...5 {
            let row = try await Self.enqueue(queue, "s\(index)", account: Self.first, lastError: nil, at: start)
            let id = try #require(row.id)
            _ = try await queue.claim(id, now: start)
            try await queue.markStored(id, indexing: Self.object("s\(index)"), now: start.addingTimeInterval(Double(index) * 10))
            stored.append(id)
        }
        let pending = try await Self.enqueue(queue, "p", account: Self.first, lastError: nil, at: start.addingTimeInterval(-86_400))
        let failed = try await Self.enqueue(queue, "f", account: Self.second, lastError: nil, at: start.addingTimeInterval(-86_400))
        try await queue.markFailed(try #require(failed.id), reason: "spool file failed its integrity check", now: start)
        #expect(try await queue.waitingUploads().map(\.objectKey) == ["p", "f"])

        let cutoff = start.addingTimeInterval(45)
        #expect(try await queue.forgetStored(before: cutoff, limit: 3) == 3, "the oldest three of the four before the cutoff")
        #expect(try await queue.uploads(state: .stored).compactMap(\.id) == Array(stored.suffix(2)))
        #expect(try await queue.forgetStored(before: cutoff, limit: 3) == 1)
        #expect(try await queue.forgetStored(before: cutoff, limit: 3) == 0)
        #expect(try await queue.uploads(state: .stored).compactMap(\.id) == [stored[4]], "the one after the cutoff stays")
        #expect(try await queue.forgetStored(before: start.addingTimeInterval(86_400), limit: 10) == 1)
        #expect(try await queue.uploads().compactMap(\.id) == [pending.id, failed.id].compactMap { $0 }, "waiting rows are never forgotten")
        #expect(try await queue.longestStoredPrefix(accountId: Self.first, segments: ["s1"]) != nil, "the object index keeps its rows")
    }
}
