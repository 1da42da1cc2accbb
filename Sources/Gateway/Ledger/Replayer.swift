import Foundation
import Logging
import S3
import Spool

/// Uploads one claimed queue row from its spool file and records the outcome in the ledger: the replay
/// worker and `queue replay` both use it, with the same uploader (and memory budget) as live stores.
///
/// - S3 confirmed: replaying → stored (and indexed), then the spool file is removed.
/// - The file fails its integrity check, or is not the row's object: replaying → failed, nothing is
///   uploaded, the file stays for the operator.
/// - The account's credentials or bucket are refused, or the account is gone: the account is paused
///   (circuit breaker) and the row waits, pending, until the account changes or `queue retry`.
/// - Anything else (S3 down, throttling, cancellation): pending again after a backoff.
public struct Replayer: Sendable {
    public enum Outcome: Sendable, Hashable {
        case stored
        case retryLater(String)
        case paused(String)
        case failed(String)
    }

    let ledger: RecordingLedger
    let observer: (any ReplayObserver)?
    let logger: Logger
    /// Tries one upload (S3 in `serve`; tests give one of their own).
    let attempt: @Sendable (QueuedUpload, _ progress: @escaping @Sendable (Int) -> Void) async -> Attempt

    init(
        ledger: RecordingLedger,
        observer: (any ReplayObserver)?,
        logger: Logger,
        attempt: @escaping @Sendable (QueuedUpload, _ progress: @escaping @Sendable (Int) -> Void) async -> Attempt
    ) {
        self.ledger = ledger
        self.observer = observer
        self.logger = logger
        self.attempt = attempt
    }

    @discardableResult
    public func replay(_ entry: QueuedUpload, progress: @escaping @Sendable (Int) -> Void = { _ in }) async -> Outcome {
        // Every line of this replay, the S3 client's included, carries its account and queue id.
        await RequestLogMetadata.with(["account_id": "\(entry.accountId)", "queue_id": "\(entry.id ?? 0)"]) {
            let outcome = await attempt(entry, progress)
            observer?.replayed(outcome.result, bytes: outcome.stored?.size ?? 0)
            // The database may be away for a while (several gateways on PostgreSQL): the outcome is recorded once
            // it is back, trying again with a growing wait; a stop leaves the row `uploading`, and the next
            // start puts it back to `pending`. Nothing is lost either way.
            var wait = Duration.seconds(1)
            while true {
                do {
                    try await record(outcome, of: entry)
                    break
                } catch {
                    logger.error("cannot record the replay's outcome; trying again in \(wait): \(error)")
                    do { try await Task.sleep(for: wait) } catch { break }
                    wait = min(wait * 2, .seconds(30))
                }
            }
            return outcome.result
        }
    }

    /// What one try came to, and what the ledger needs to record it.
    struct Attempt: Sendable {
        var result: Outcome
        var stored: StoredObject?
        /// The registry revision the account's credentials were loaded at.
        var registryRevision: Int?
    }

    private func record(_ outcome: Attempt, of entry: QueuedUpload) async throws {
        switch outcome.result {
        case .stored:
            guard let stored = outcome.stored else { return }
            try await ledger.replayed(entry, as: stored)
            logger.info("replayed", metadata: ["key": "\(entry.objectKey)", "bytes": "\(entry.size)", "attempts": "\(entry.attempts)"])
        case .failed(let reason):
            try await ledger.replayFailed(entry, reason: reason)
            logger.error("replay failed for good; the spool file is kept for the operator: \(reason)", metadata: ["key": "\(entry.objectKey)"])
        case .paused(let reason):
            if try await ledger.replayPaused(entry, reason: reason, registryRevision: outcome.registryRevision) {
                logger.warning(
                    "replays of this account paused (circuit breaker): one recording is tried per backoff until S3 takes it, the account is updated or `queue retry --account` runs: \(reason)"
                )
            }
        case .retryLater(let reason):
            let seconds = try await ledger.replayDeferred(entry, reason: reason)
            logger.notice("replay will be tried again", metadata: ["in_seconds": "\(Int(seconds.rounded(.up)))", "error": "\(reason)"])
        }
    }
}

/// Told of every replay's outcome (the gateway's metrics).
protocol ReplayObserver: Sendable {
    func replayed(_ outcome: Replayer.Outcome, bytes: Int)
}
