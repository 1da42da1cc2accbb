import Foundation
import Logging
import NIOConcurrencyHelpers
import S3
public import Spool

/// The one owner of a recording's life in the gateway (`RecordingLifecycle`): every state change and
/// the index row, spool file and queue row writes that go with it. The store and fetch routes, the
/// replayer, start-up recovery, the queue commands and the admin API call it; nothing else writes the
/// queue or the index, or removes a spool file.
public final class RecordingLedger: Sendable {
    let queue: any UploadQueueStorage
    let index: any ObjectIndexStorage
    public let spool: Spool
    let locator: ObjectLocator
    let waiting = SpoolWaitingList()
    /// Signalled when queued rows become due at once (an account resumed, an operator's retry), so the
    /// replay worker does not wait for its poll.
    public let replaysDue = Wakeup()
    /// Accounts with rows held back by a failure (deferred or paused) and, per account, replays landed
    /// since its backlog was last empty: a store or replay S3 takes for a held-back account ends the wait
    /// of its other rows; the last row of a backlog is logged once.
    private let backlogs = NIOLockedValueBox<(heldBack: Set<String>, replayed: [String: Int])>(([], [:]))
    /// Backoff between replay attempts of one row (full jitter, up to the cap); also times the first one.
    let replayBackoff: RetryPolicy
    let now: @Sendable () -> Date
    /// A uniform random number in 0...1, for the backoff's jitter.
    let random: @Sendable () -> Double
    let logger: Logger

    init(
        queue: any UploadQueueStorage,
        index: any ObjectIndexStorage,
        spool: Spool,
        locator: ObjectLocator,
        replayBackoff: RetryPolicy,
        now: @escaping @Sendable () -> Date = { Date() },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) },
        logger: Logger
    ) {
        self.queue = queue
        self.index = index
        self.spool = spool
        self.locator = locator
        self.replayBackoff = replayBackoff
        self.now = now
        self.random = random
        self.logger = logger
    }

    // MARK: A live store: received → stored, pending or refused

    /// A store was accepted: its write-ahead spool file, or nil (logged) when stores are not spooled now.
    func received(_ header: SpoolFile.Header) -> SpoolWriter? { spool.begin(header: header) }

    /// received → refused: the store is not acknowledged; its unfinished spool file goes.
    func abandoned(_ writer: SpoolWriter?) { writer?.discard() }

    /// received → stored: S3 confirmed the object. The index row is written; if that fails the object
    /// is still safe in S3 (fetches resolve the path itself), so it is logged, not thrown.
    func stored(_ object: StoredObject, spoolFile writer: SpoolWriter?, logger: Logger) async {
        writer?.discard()
        remember(object)
        await s3TookARecording(of: object.accountId)
        do {
            try await index.record(object)
        } catch {
            logger.error("stored object not recorded in the index: \(error)", metadata: ["key": "\(object.objectKey)"])
        }
    }

    /// received → pending: S3 failed and the whole body is in `writer`'s file. Makes the file durable,
    /// then commits the queue row with the index row (so fetches find it); the store may be acknowledged
    /// once this returns. On an error nothing is acknowledged and the file is gone.
    func spooled(
        _ writer: SpoolWriter,
        accountId: String,
        key: String,
        requestPath: String,
        contentType: String?,
        reason: String
    ) async throws -> QueuedUpload {
        do {
            let finished = try writer.finish(durable: true)
            let file = (writer.path as NSString).lastPathComponent
            let time = now()
            let object = StoredObject(
                accountId: accountId,
                requestPath: requestPath,
                objectKey: key,
                size: finished.size,
                checksum: finished.checksum,
                etag: nil,
                contentType: contentType,
                storedAt: time
            )
            let upload = QueuedUpload(
                accountId: accountId,
                objectKey: key,
                requestPath: requestPath,
                spoolFile: file,
                size: finished.size,
                checksum: finished.checksum,
                nextAttemptAt: time.addingTimeInterval(backoffSeconds(beforeRetry: 0)),
                lastError: reason,
                createdAt: time,
                updatedAt: time
            )
            let entry = try await queue.enqueue(upload, indexing: object)
            waiting.mark(accountId: accountId, key: key, SpoolWaitingList.Waiting(file: file, size: finished.size))
            remember(object)
            return entry
        } catch {
            writer.discard()
            throw error
        }
    }

    // MARK: Replays: pending → replaying → stored, pending or failed

    /// Which accounts have due rows, when the next becomes due, and the paused accounts.
    func replayOutlook() async throws -> ReplayOutlook { try await queue.replayOutlook(now: now()) }

    /// pending → replaying for each account's share of its due rows (see `UploadQueueStorage.claimDue`).
    func claimDue(_ shares: [String: Int]) async throws -> [QueuedUpload] { try await queue.claimDue(shares, now: now()) }

    /// pending → replaying for the oldest due row of the first account that has one, paused or not (the
    /// operator's `queue replay --all`).
    public func claimNextDue() async throws -> QueuedUpload? {
        guard let accountId = try await replayOutlook().due.keys.min() else { return nil }
        return try await claimDue([accountId: 1]).first
    }

    /// pending → replaying for one row (the operator's `queue replay ID`); nil when it is not pending.
    public func claim(_ id: Int64) async throws -> QueuedUpload? { try await queue.claim(id, now: now()) }

    /// replaying → stored: the row is stored with its index row, then the spool file goes.
    /// When it was the account's last waiting row, its backlog is logged as empty, once.
    func replayed(_ entry: QueuedUpload, as object: StoredObject) async throws {
        let id = try Self.check(entry, .replayed)
        let remaining = try await queue.markStored(id, indexing: object, now: now())
        spool.remove(entry.spoolFile)
        waiting.forget(accountId: entry.accountId, key: entry.objectKey, file: entry.spoolFile)
        remember(object)
        let replayed = backlogs.withLockedValue { backlogs in
            backlogs.replayed[entry.accountId, default: 0] += 1
            return remaining == 0 ? backlogs.replayed.removeValue(forKey: entry.accountId) : nil
        }
        if let replayed {
            logger.notice(
                "the account's backlog is empty: every queued recording is in S3",
                metadata: ["account_id": "\(entry.accountId)", "replayed": "\(replayed)"]
            )
        }
        await s3TookARecording(of: entry.accountId)
    }

    /// S3 took a recording of `accountId`: if some of its rows were held back by a failure (an outage, a
    /// pause), the failure is over for it, so they are due now and a pause ends.
    private func s3TookARecording(of accountId: String) async {
        guard backlogs.withLockedValue({ $0.heldBack.remove(accountId) != nil }) else { return }
        do {
            let due = try await queue.resume(accountId: accountId, now: now())
            if due > 0 {
                logger.notice(
                    "S3 takes the account's recordings again; its queued ones are due now",
                    metadata: ["account_id": "\(accountId)", "due": "\(due)"]
                )
            }
            replaysDue.signal()
        } catch {
            // Their backoff still ends; nothing is lost.
            logger.error("cannot make the account's queued recordings due: \(error)", metadata: ["account_id": "\(accountId)"])
        }
    }

    private func holdBack(_ accountId: String) { backlogs.withLockedValue { _ = $0.heldBack.insert(accountId) } }

    /// replaying → failed: kept, with its spool file, for the operator.
    func replayFailed(_ entry: QueuedUpload, reason: String) async throws {
        try await queue.markFailed(try Self.check(entry, .failedForGood), reason: reason, now: now())
    }

    /// replaying → pending, after the backoff for its attempts; returns the delay in seconds.
    @discardableResult
    /// A paused account's probe that failed this way also puts its next probe further off.
    func replayDeferred(_ entry: QueuedUpload, reason: String) async throws -> Double {
        let id = try Self.check(entry, .deferred)
        let seconds = backoffSeconds(beforeRetry: max(0, entry.attempts - 1))
        let time = now()
        holdBack(entry.accountId)
        if let pause = try await queue.accountPauses()[entry.accountId], pause.nextProbeAt <= time {
            _ = try await probeFailed(entry.accountId, pause, reason: reason, registryRevision: nil, at: time)
        }
        try await queue.reschedule(id, error: reason, nextAttempt: time.addingTimeInterval(seconds), now: time)
        return seconds
    }

    /// replaying → pending with the account's replays paused (circuit breaker), unless the account
    /// changed since `registryRevision`. The row is due at once either way: paused, it waits for the
    /// account to change or its next probe (after a backoff that grows per failed probe); not paused, it
    /// is tried again with what the account is now. Returns whether this attempt paused an account that
    /// was not paused before.
    func replayPaused(_ entry: QueuedUpload, reason: String, registryRevision: Int?) async throws -> Bool {
        let id = try Self.check(entry, .paused)
        let time = now()
        holdBack(entry.accountId)
        // Paused first, so the worker cannot claim the row again in between.
        let paused: Bool
        let newly: Bool
        if let pause = try await queue.accountPauses()[entry.accountId] {
            // A probe that failed, or an attempt that was under way when the pause began (no change).
            paused =
                pause.nextProbeAt > time
                ? true : try await probeFailed(entry.accountId, pause, reason: reason, registryRevision: registryRevision, at: time)
            newly = false
        } else {
            paused = try await queue.pause(
                accountId: entry.accountId,
                reason: reason,
                registryRevision: registryRevision,
                probes: 0,
                nextProbeAt: time.addingTimeInterval(probeDelaySeconds(afterFailedProbes: 0)),
                now: time
            )
            newly = paused
        }
        try await queue.reschedule(id, error: reason, nextAttempt: time, now: time)
        return newly
    }

    /// One more failed probe of a paused account: the next one waits longer.
    private func probeFailed(_ accountId: String, _ pause: AccountPause, reason: String, registryRevision: Int?, at time: Date) async throws -> Bool {
        let probes = pause.probes + 1
        return try await queue.pause(
            accountId: accountId,
            reason: reason,
            registryRevision: registryRevision,
            probes: probes,
            nextProbeAt: time.addingTimeInterval(probeDelaySeconds(afterFailedProbes: probes)),
            now: time
        )
    }

    // MARK: The operator and start-up

    /// pending, failed → pending, due now (one row, an account's, or all), resuming their accounts.
    @discardableResult
    public func retryNow(id: Int64? = nil, accountId: String? = nil) async throws -> Int {
        let due = try await queue.retryNow(id: id, accountId: accountId, now: now())
        replaysDue.signal()
        return due
    }

    /// A dead node's recordings, once an operator moved its spool files into this node's spool directory,
    /// become this node's to replay (`queue adopt --from-node`): returns how many rows were adopted and the
    /// spool files of that node's waiting rows that are not here (not adopted; still that node's).
    public func adopt(fromNode node: String) async throws -> (adopted: Int, missing: [String]) {
        let present = Set(Spool.spoolFiles(in: spool.settings.directory))
        let waiting = try await queue.waitingUploads().filter { $0.nodeId == node }
        let adopted = try await queue.adopt(fromNode: node, spoolFiles: present, now: now())
        replaysDue.signal()
        return (adopted, waiting.map(\.spoolFile).filter { !present.contains($0) }.sorted())
    }

    /// any kept state → discarded: the row and its spool file are destroyed (`queue discard`).
    public func discard(_ entry: QueuedUpload) async throws {
        let id = try Self.check(entry, .discarded)
        try await queue.delete(id)
        spool.remove(entry.spoolFile)
        waiting.forget(accountId: entry.accountId, key: entry.objectKey, file: entry.spoolFile)
    }

    /// At the start of the spool's owner (`serve`), after a crash or a stop: replaying → pending for rows
    /// a dead worker held, spool files no row refers to (never acknowledged, or already stored) removed,
    /// and the waiting recordings listed for fetches (and their accounts as held back).
    @discardableResult
    func recover() async throws -> (interrupted: Int, unreferenced: Int) {
        let interrupted = try await queue.recoverInterrupted(now: now())
        // This node's rows (several gateways share the queue; each spool holds its own node's files).
        let referenced = try await queue.referencedSpoolFiles()
        let unreferenced = spool.removeUnreferenced(keeping: referenced)
        for entry in try await queue.waitingUploads() where referenced.contains(entry.spoolFile) {
            waiting.mark(accountId: entry.accountId, key: entry.objectKey, SpoolWaitingList.Waiting(file: entry.spoolFile, size: entry.size))
            // Rows left from before the start may be waiting out a backoff: the first recording S3 takes ends it.
            holdBack(entry.accountId)
        }
        return (interrupted, unreferenced)
    }

    /// stored rows' history: rows S3 took more than `age` ago are deleted, `batch` per transaction (so
    /// stores and replays wait at most one batch for the database); returns how many.
    func forgetStored(olderThan age: TimeInterval, batch: Int = 1000) async throws -> Int {
        let cutoff = now().addingTimeInterval(-age)
        var forgotten = 0
        while true {
            let deleted = try await queue.forgetStored(before: cutoff, limit: batch)
            forgotten += deleted
            if deleted < batch { return forgotten }
        }
    }

    // MARK: Fetches of recordings still in the spool

    /// Whether `key` is waiting in the spool (the fetch is answered from there, not from S3).
    func isWaitingInSpool(accountId: String, key: String) -> Bool { waiting.object(accountId: accountId, key: key) != nil }

    /// The opened spool file holding `key`, with its object's size; nil when none does (or it was just
    /// replayed and removed, which forgets it).
    func spooledCopy(accountId: String, key: String) -> (reader: SpoolReader, size: Int)? {
        guard let object = waiting.object(accountId: accountId, key: key) else { return nil }
        guard let reader = try? SpoolReader(path: spool.path(object.file), masterKey: spool.masterKey) else {
            waiting.forget(accountId: accountId, key: key, file: object.file)
            return nil
        }
        guard reader.header.accountId == accountId, reader.header.objectKey == key else { return nil }
        return (reader, object.size)
    }

    /// How many recordings wait in the spool.
    var waitingCount: Int { waiting.count }

    // MARK: Reading the queue

    public func upload(_ id: Int64) async throws -> QueuedUpload? { try await queue.upload(id) }

    public func uploads(state: QueuedUpload.State? = nil, accountId: String? = nil, limit: Int? = nil) async throws -> [QueuedUpload] {
        try await queue.uploads(state: state, accountId: accountId, limit: limit)
    }

    /// Paused accounts and why.
    public func pausedAccounts() async throws -> [String: String] { try await queue.accountPauses().mapValues(\.reason) }

    public func accountPauses() async throws -> [String: AccountPause] { try await queue.accountPauses() }

    public func snapshot() async throws -> QueueSnapshot { try await queue.queueSnapshot(now: now()) }

    func waitingCountsByAccount() async throws -> [String: [QueuedUpload.State: Int]] { try await queue.waitingCountsByAccount() }

    // MARK: Helpers

    private func remember(_ object: StoredObject) {
        locator.remember(
            accountId: object.accountId,
            requestPath: object.requestPath,
            location: ObjectLocator.Location(key: object.objectKey, contentType: object.contentType)
        )
    }

    private func backoffSeconds(beforeRetry retry: Int) -> Double {
        Self.seconds(replayBackoff.delay(beforeRetry: retry, unitRandom: random()))
    }

    /// The wait before a paused account's next probe: the rows' backoff for as many retries, with its
    /// jitter in the upper half, so probes come at most about once per backoff.
    private func probeDelaySeconds(afterFailedProbes probes: Int) -> Double {
        Self.seconds(replayBackoff.delay(beforeRetry: probes, unitRandom: 0.5 + random() / 2))
    }

    private static func seconds(_ delay: Duration) -> Double {
        Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
    }

    /// The row's id, once the lifecycle allows `event` in its state.
    private static func check(_ entry: QueuedUpload, _ event: RecordingLifecycle.Event) throws -> Int64 {
        let state = RecordingLifecycle.state(of: entry.state)
        guard RecordingLifecycle.next(from: state, on: event) != nil, let id = entry.id else {
            throw LifecycleError(state: state, event: event)
        }
        return id
    }
}
