import Foundation
import Logging
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

    /// pending → replaying for up to `limit` due rows (see `UploadQueueStorage.claimDue`).
    public func claimDue(limit: Int, excludingAccounts excluded: Set<String> = [], onePerAccount: Bool = false) async throws -> [QueuedUpload] {
        try await queue.claimDue(limit: limit, now: now(), excludingAccounts: excluded, onePerAccount: onePerAccount)
    }

    /// pending → replaying for one row (the operator's `queue replay ID`); nil when it is not pending.
    public func claim(_ id: Int64) async throws -> QueuedUpload? { try await queue.claim(id, now: now()) }

    /// replaying → stored: the row is stored with its index row, then the spool file goes.
    func replayed(_ entry: QueuedUpload, as object: StoredObject) async throws {
        let id = try Self.check(entry, .replayed)
        try await queue.markStored(id, indexing: object, now: now())
        spool.remove(entry.spoolFile)
        waiting.forget(accountId: entry.accountId, key: entry.objectKey, file: entry.spoolFile)
        remember(object)
    }

    /// replaying → failed: kept, with its spool file, for the operator.
    func replayFailed(_ entry: QueuedUpload, reason: String) async throws {
        try await queue.markFailed(try Self.check(entry, .failedForGood), reason: reason, now: now())
    }

    /// replaying → pending, after the backoff for its attempts; returns the delay in seconds.
    @discardableResult
    func replayDeferred(_ entry: QueuedUpload, reason: String) async throws -> Double {
        let id = try Self.check(entry, .deferred)
        let seconds = backoffSeconds(beforeRetry: max(0, entry.attempts - 1))
        let time = now()
        try await queue.reschedule(id, error: reason, nextAttempt: time.addingTimeInterval(seconds), now: time)
        return seconds
    }

    /// replaying → pending with the account's replays paused (circuit breaker), unless the account
    /// changed since `registryRevision`. The row is due at once either way: paused, it waits for the
    /// account to change; not paused, it is tried again with what the account is now. Returns whether
    /// this attempt paused an account that was not paused before.
    func replayPaused(_ entry: QueuedUpload, reason: String, registryRevision: Int?) async throws -> Bool {
        let id = try Self.check(entry, .paused)
        let wasPaused = try await queue.pausedAccounts()[entry.accountId] != nil
        // Paused first, so the worker cannot claim the row again in between.
        let time = now()
        let paused = try await queue.pause(accountId: entry.accountId, reason: reason, registryRevision: registryRevision, now: time)
        try await queue.reschedule(id, error: reason, nextAttempt: time, now: time)
        return paused && !wasPaused
    }

    // MARK: The operator and start-up

    /// pending, failed → pending, due now (one row, an account's, or all), resuming their accounts.
    @discardableResult
    public func retryNow(id: Int64? = nil, accountId: String? = nil) async throws -> Int {
        try await queue.retryNow(id: id, accountId: accountId, now: now())
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
    /// and the waiting recordings listed for fetches.
    @discardableResult
    func recover() async throws -> (interrupted: Int, unreferenced: Int) {
        let interrupted = try await queue.recoverInterrupted(now: now())
        let unreferenced = spool.removeUnreferenced(keeping: try await queue.referencedSpoolFiles())
        for entry in try await queue.uploads(state: nil, accountId: nil, limit: nil) where entry.state != .stored {
            waiting.mark(accountId: entry.accountId, key: entry.objectKey, SpoolWaitingList.Waiting(file: entry.spoolFile, size: entry.size))
        }
        return (interrupted, unreferenced)
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

    public func pausedAccounts() async throws -> [String: String] { try await queue.pausedAccounts() }

    func snapshot() async throws -> QueueSnapshot { try await queue.queueSnapshot(now: now()) }

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
        let delay = replayBackoff.delay(beforeRetry: retry, unitRandom: random())
        return Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
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
