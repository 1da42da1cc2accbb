public import Foundation

/// Where the durable retry queue and the replay circuit breaker (paused accounts) live.
/// Only `RecordingLedger` changes them; readers may list.
public protocol UploadQueueStorage: Sendable {
    /// Commits a row for a spool file that is already durable, with the object's index row, in one
    /// transaction that survives a power cut: the upload is acknowledged after this returns.
    func enqueue(_ upload: QueuedUpload, indexing object: StoredObject) async throws -> QueuedUpload
    /// Which accounts have due rows, when the next row becomes due, and the paused accounts (one read).
    func replayOutlook(now: Date) async throws -> ReplayOutlook
    /// Takes, for each account in `shares`, up to its number of due pending rows (oldest first), marking
    /// them `uploading` in one transaction, so two workers never take the same row.
    func claimDue(_ shares: [String: Int], now: Date) async throws -> [QueuedUpload]
    /// Takes one pending row, as `claimDue` would; nil when it is not pending.
    func claim(_ id: Int64, now: Date) async throws -> QueuedUpload?
    /// S3 confirmed the object: the row is `stored` and the index row records its ETag, in one transaction.
    /// Returns how many rows of the account are still waiting (pending or uploading).
    @discardableResult
    func markStored(_ id: Int64, indexing object: StoredObject, now: Date) async throws -> Int
    func markFailed(_ id: Int64, reason: String, now: Date) async throws
    /// Back to `pending`, due at `nextAttempt`, remembering why.
    func reschedule(_ id: Int64, error: String, nextAttempt: Date, now: Date) async throws
    /// Rows a dead worker held (`uploading`) go back to `pending`; returns how many.
    func recoverInterrupted(now: Date) async throws -> Int
    /// Makes pending and failed rows due now (one row, an account's, or all) and resumes their accounts.
    func retryNow(id: Int64?, accountId: String?, now: Date) async throws -> Int
    func delete(_ id: Int64) async throws
    /// Deletes up to `limit` `stored` rows (any node's) last changed before `cutoff`, oldest first; returns
    /// how many. Rows still waiting are never touched.
    func forgetStored(before cutoff: Date, limit: Int) async throws -> Int
    /// A dead node's rows whose spool files are now in this node's spool (`spoolFiles`) become this node's,
    /// pending and due now, with their index rows; returns how many. (One node on SQLite: nothing to adopt.)
    func adopt(fromNode: String, spoolFiles: Set<String>, now: Date) async throws -> Int

    /// Pauses an account's replays, or records a failed probe of a paused one (`probes`, `nextProbeAt`; the
    /// first reason stays), unless the accounts changed since `registryRevision`; returns whether the
    /// account is paused.
    func pause(accountId: String, reason: String, registryRevision: Int?, probes: Int, nextProbeAt: Date, now: Date) async throws -> Bool
    /// Ends an account's pause, if any, and makes its pending rows due now (S3 took one of its recordings:
    /// whatever held the others back is over); returns how many rows were made due.
    @discardableResult
    func resume(accountId: String, now: Date) async throws -> Int
    /// Paused accounts and their probes.
    func accountPauses() async throws -> [String: AccountPause]

    func upload(_ id: Int64) async throws -> QueuedUpload?
    /// Rows oldest first, at most `limit` of them.
    func uploads(state: QueuedUpload.State?, accountId: String?, limit: Int?) async throws -> [QueuedUpload]
    /// Rows not yet stored (pending, uploading or failed), every node's, oldest first.
    func waitingUploads() async throws -> [QueuedUpload]
    /// Spool file names a row not yet stored refers to (files without one were never acknowledged).
    func referencedSpoolFiles() async throws -> Set<String>
    func queueSnapshot(now: Date) async throws -> QueueSnapshot
    /// Rows not yet stored, by account and state (accounts with none are absent).
    func waitingCountsByAccount() async throws -> [String: [QueuedUpload.State: Int]]
}

extension UploadQueueStorage {
    /// Every row, or a state's or an account's, oldest first.
    public func uploads(state: QueuedUpload.State? = nil, accountId: String? = nil) async throws -> [QueuedUpload] {
        try await uploads(state: state, accountId: accountId, limit: nil)
    }
}
