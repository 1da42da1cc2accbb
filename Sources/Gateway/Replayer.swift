import Foundation
import Logging
import NIOCore
import S3

/// Uploads one claimed queue row from its spool file and records the outcome: the replay worker and
/// `queue replay` both use it, with the same uploader (and memory budget) as live stores.
///
/// - S3 confirmed: the row is `stored` (and indexed), then the spool file is removed.
/// - The file fails its integrity check, or is not the row's object: the row is `failed`, nothing is
///   uploaded, the file stays for the operator.
/// - The account's credentials or bucket are refused, or the account is gone: the account is paused
///   (circuit breaker) and the row waits, pending, until the account changes or `queue retry`.
/// - Anything else (S3 down, throttling, cancellation): the row is pending again after a backoff.
public struct Replayer: Sendable {
    public enum Outcome: Sendable, Hashable {
        case stored
        case retryLater(String)
        case paused(String)
        case failed(String)
    }

    let queue: UploadQueue
    let spool: Spool
    let directory: AccountDirectory
    let uploader: MultipartUploader
    let locator: ObjectLocator?
    /// Backoff between attempts of one row (full jitter, up to the cap).
    let backoff: RetryPolicy
    let metrics: GatewayMetrics?
    let logger: Logger

    @discardableResult
    public func replay(_ entry: UploadQueue.Entry, progress: @escaping @Sendable (Int) -> Void = { _ in }) async -> Outcome {
        // Every line of this replay, the S3 client's included, carries its account and queue id.
        await RequestLogMetadata.with(["account_id": "\(entry.accountId)", "queue_id": "\(entry.id ?? 0)"]) {
            let outcome = await attempt(entry, progress: progress)
            metrics?.replay(outcome.result, bytes: outcome.stored?.size ?? 0)
            do {
                try record(outcome, of: entry)
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

    private func attempt(_ entry: UploadQueue.Entry, progress: @escaping @Sendable (Int) -> Void) async -> Attempt {
        let (found, revision) = directory.entryWithRevision(forAccountId: entry.accountId)
        guard let account = found else {
            return Attempt(
                result: .paused("account \(entry.accountId) no longer exists; add it again (same id) to resume its replays"),
                registryRevision: revision
            )
        }
        let reader: SpoolReader
        do {
            reader = try SpoolReader(path: spool.path(entry.spoolFile), masterKey: spool.masterKey)
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
                storedAt: Date()
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

    private func record(_ outcome: Attempt, of entry: UploadQueue.Entry) throws {
        guard let id = entry.id else { return }
        switch outcome.result {
        case .stored:
            try queue.markStored(id, indexing: outcome.stored)
            spool.remove(entry.spoolFile)
            spool.markGone(accountId: entry.accountId, key: entry.objectKey, file: entry.spoolFile)
            if let stored = outcome.stored {
                locator?.remember(
                    accountId: stored.accountId,
                    requestPath: stored.requestPath,
                    location: ObjectLocator.Location(key: stored.objectKey, contentType: stored.contentType)
                )
            }
            logger.info("replayed", metadata: ["key": "\(entry.objectKey)", "bytes": "\(entry.size)", "attempts": "\(entry.attempts)"])
        case .failed(let reason):
            try queue.markFailed(id, reason: reason)
            logger.error("replay failed for good; the spool file is kept for the operator: \(reason)", metadata: ["key": "\(entry.objectKey)"])
        case .paused(let reason):
            let wasPaused = try queue.pausedAccounts()[entry.accountId] != nil
            // Paused first, so the worker cannot claim the row again in between. The row is due at once either
            // way: paused, it waits for the account to change; not paused (the account changed while this
            // attempt ran), it is tried again with what the account is now.
            let paused = try queue.pause(accountId: entry.accountId, reason: reason, registryRevision: outcome.registryRevision)
            try queue.reschedule(id, error: reason, nextAttempt: Date())
            if paused && !wasPaused {
                logger.warning(
                    "replays of this account paused (circuit breaker) until the account is updated or `queue retry --account` runs: \(reason)"
                )
            }
        case .retryLater(let reason):
            let delay = backoff.delay(beforeRetry: max(0, entry.attempts - 1), unitRandom: Double.random(in: 0...1))
            let seconds = Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18
            try queue.reschedule(id, error: reason, nextAttempt: Date().addingTimeInterval(seconds))
            logger.notice("replay will be tried again", metadata: ["in_seconds": "\(Int(seconds.rounded(.up)))", "error": "\(reason)"])
        }
    }
}

/// A spool file's object bytes as the uploader reads them.
struct SpoolFileBody: AsyncSequence {
    typealias Element = ByteBuffer
    let reader: SpoolReader
    let progress: @Sendable (Int) -> Void

    struct Iterator: AsyncIteratorProtocol {
        let reader: SpoolReader
        let progress: @Sendable (Int) -> Void
        var total = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try reader.next() else { return nil }
            total += chunk.count
            progress(total)
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(reader: reader, progress: progress) }
}
