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
    let directory: AccountDirectory
    let uploader: MultipartUploader
    let observer: (any ReplayObserver)?
    let logger: Logger

    @discardableResult
    public func replay(_ entry: QueuedUpload, progress: @escaping @Sendable (Int) -> Void = { _ in }) async -> Outcome {
        // Every line of this replay, the S3 client's included, carries its account and queue id.
        await RequestLogMetadata.with(["account_id": "\(entry.accountId)", "queue_id": "\(entry.id ?? 0)"]) {
            let outcome = await attempt(entry, progress: progress)
            observer?.replayed(outcome.result, bytes: outcome.stored?.size ?? 0)
            do {
                try await record(outcome, of: entry)
            } catch {
                // The row stays `uploading`; the next start puts it back to `pending`. Nothing is lost.
                logger.error("cannot record the replay's outcome: \(error)")
            }
            return outcome.result
        }
    }

    private struct Attempt {
        var result: Outcome
        var stored: StoredObject?
        /// The registry revision the account's credentials were loaded at.
        var registryRevision: Int?
    }

    private func attempt(_ entry: QueuedUpload, progress: @escaping @Sendable (Int) -> Void) async -> Attempt {
        let (found, revision) = directory.entryWithRevision(forAccountId: entry.accountId)
        guard let account = found else {
            return Attempt(
                result: .paused("account \(entry.accountId) no longer exists; add it again (same id) to resume its replays"),
                registryRevision: revision
            )
        }
        let reader: SpoolReader
        do {
            reader = try SpoolReader(path: ledger.spool.path(entry.spoolFile), masterKey: ledger.spool.masterKey)
        } catch {
            return Attempt(result: .failed("\(error)"))
        }
        guard reader.header.accountId == entry.accountId, reader.header.objectKey == entry.objectKey else {
            return Attempt(result: .failed("spool file \(entry.spoolFile) holds another object than its queue row; not uploaded"))
        }
        var options = account.account.objectOptions
        options.contentType = reader.header.contentType
        options.metadata = reader.header.metadata
        do {
            let result = try await uploader.upload(
                SpoolFileBody(reader: reader, progress: progress),
                to: account.client,
                key: entry.objectKey,
                options: options,
                expectedLength: entry.size
            )
            guard result.size == entry.size else {
                return Attempt(result: .failed("the spool file holds \(result.size) bytes, its row says \(entry.size)"))
            }
            let stored = StoredObject(
                accountId: entry.accountId,
                requestPath: entry.requestPath,
                objectKey: entry.objectKey,
                size: result.size,
                checksum: result.checksum,
                etag: result.etag,
                contentType: reader.header.contentType,
                storedAt: ledger.now()
            )
            return Attempt(result: .stored, stored: stored)
        } catch let error as SpoolIntegrityError {
            return Attempt(result: .failed(error.description))
        } catch let error as S3Error where error.isAccountProblem {
            return Attempt(result: .paused(error.description), registryRevision: revision)
        } catch {
            if Task.isCancelled { return Attempt(result: .retryLater("interrupted (the gateway is stopping)")) }
            return Attempt(result: .retryLater("\(error)"))
        }
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
                    "replays of this account paused (circuit breaker) until the account is updated or `queue retry --account` runs: \(reason)"
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
