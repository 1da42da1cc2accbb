import Foundation
import Logging
import S3
import Spool

/// One replay's upload from its spool file to the account's bucket.
struct SpoolUpload: Sendable {
    let ledger: RecordingLedger
    let directory: AccountDirectory
    let uploader: MultipartUploader

    typealias Attempt = Replayer.Attempt

    func attempt(_ entry: QueuedUpload, progress: @escaping @Sendable (Int) -> Void) async -> Attempt {
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
}

extension Replayer {
    /// Replays from the spool through `uploader` (give it `background` priority: replays take memory only
    /// when live stores leave it), with the accounts' credentials from `directory`.
    init(ledger: RecordingLedger, directory: AccountDirectory, uploader: MultipartUploader, observer: (any ReplayObserver)?, logger: Logger) {
        let upload = SpoolUpload(ledger: ledger, directory: directory, uploader: uploader)
        self.init(ledger: ledger, observer: observer, logger: logger, attempt: upload.attempt)
    }
}
