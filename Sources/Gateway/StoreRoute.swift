import Foundation
import Hummingbird
import Logging
import S3

/// `PUT`/`POST /k/<token>/<path>`: streams the body into the account's bucket and, at the same time,
/// into an encrypted spool file (write-ahead). 201 once S3 confirmed the object (the spool file is
/// removed, never fsync'd); if S3 fails, the rest of the body goes to the spool file, which is made
/// durable and queued for replay before the answer is 202. Without a spool file (spooling off, disk
/// full, quota) an S3 failure is a 503: nothing is acknowledged that is not safe.
struct StoreRoute: Sendable {
    let uploader: MultipartUploader
    let locator: ObjectLocator
    let maxRequestBytes: Int
    let spool: Spool
    let queue: UploadQueue
    /// When a spooled store's first replay is due (full jitter of its first delay).
    let replayBackoff: RetryPolicy
    let metrics: GatewayMetrics

    func store(_ request: Request, context: GatewayContext, auth: RequestAuthentication, logger: Logger) async throws -> Response {
        let account = auth.entry.account
        let key: String
        do {
            key = try ObjectKey.key(prefix: account.keyPrefix, segments: auth.segments)
        } catch {
            throw GatewayError.badPath(error.message)
        }
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > maxRequestBytes {
            throw GatewayError(.contentTooLarge, "too_large", "the body is \(declared) bytes; this gateway takes at most \(maxRequestBytes)")
        }
        let requestType = request.headers[.contentType]
        let boundary = requestType.flatMap(KazooMultipartParser.boundary(fromContentType:))
        // Accepted: now the client may send the body.
        await ExpectContinueHandler.sendContinue(on: context.channel)

        var body = StoreBody(
            source: request.body.makeAsyncIterator(),
            declaredLength: declared,
            limit: maxRequestBytes,
            multipartBoundary: boundary
        )
        let started = ContinuousClock.now
        do {
            try await body.readToFilePart()
            var options = account.objectOptions
            let partType = boundary == nil ? requestType : body.fileHeaders?.contentType
            options.contentType = partType.flatMap { $0.isEmpty ? nil : $0 } ?? ContentTypes.guess(forKey: key)
            options.metadata = RecordingMetadata.build(
                query: RecordingMetadata.queryPairs(request.uri.query),
                json: boundary == nil ? nil : body.json
            )
            let requestPath = auth.segments.joined(separator: "/")
            let writer = spool.begin(
                header: SpoolFile.Header(
                    accountId: account.accountId,
                    objectKey: key,
                    requestPath: requestPath,
                    contentType: options.contentType,
                    metadata: options.metadata
                )
            )
            let spooling = SpoolingBody(body: body, writer: writer, logger: logger)
            let result: UploadResult
            do {
                result = try await uploader.upload(spooling, to: auth.entry.client, key: key, options: options, expectedLength: declared)
            } catch let error where Self.isS3Failure(error) {
                return try await spoolAfterFailure(
                    error,
                    spooling,
                    account: account,
                    key: key,
                    requestPath: requestPath,
                    options: options,
                    logger: logger
                )
            } catch {
                spooling.discard()
                body = spooling.body
                throw error
            }
            spooling.discard()
            body = spooling.body
            let stored = StoredObject(
                accountId: account.accountId,
                requestPath: requestPath,
                objectKey: key,
                size: result.size,
                checksum: result.checksum,
                etag: result.etag,
                contentType: options.contentType,
                storedAt: Date()
            )
            locator.remember(
                accountId: account.accountId,
                requestPath: stored.requestPath,
                location: ObjectLocator.Location(key: key, contentType: options.contentType)
            )
            do {
                try await locator.index.record(stored)
            } catch {
                // The object is safe in S3; fetches fall back to resolving the path itself.
                logger.error("stored object not recorded in the index: \(error)", metadata: ["key": "\(key)"])
            }
            let elapsed = ContinuousClock.now - started
            logger.info(
                "stored",
                metadata: [
                    "key": "\(key)", "bytes": "\(result.size)", "parts": "\(result.parts)",
                    "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
                ]
            )
            metrics.store(.stored, bytes: result.size, duration: elapsed)
            return Self.created(stored)
        } catch let error as StoreBodyError {
            throw Self.refusal(error, logger: logger)
        } catch let error as MultipartError {
            logger.notice("malformed multipart body: \(error.message)")
            throw GatewayError(.badRequest, "malformed_body", error.message)
        } catch let error as GatewayError {
            throw error
        } catch {
            // Most often the client went away mid-body; the upload was abandoned and nothing was stored.
            logger.notice("store abandoned: \(error)", metadata: ["key": "\(key)", "received": "\(body.received)"])
            throw GatewayError(.badRequest, "body_incomplete", "the body could not be read to its end; nothing was stored")
        }
    }

    /// S3 (or the way to it) failed, not the request: the spool can take over.
    static func isS3Failure(_ error: any Error) -> Bool { error is S3Error || error is UploadError }

    /// S3 failed: with a spool file, reads the rest of the body into it, makes it durable, commits the
    /// queue row (and the index row, so fetches find it) and answers 202; without one, 503.
    func spoolAfterFailure<Source>(
        _ error: any Error,
        _ spooling: SpoolingBody<Source>,
        account: Account,
        key: String,
        requestPath: String,
        options: S3ObjectOptions,
        logger: Logger
    ) async throws -> Response {
        let s3Code = (error as? S3Error)?.code ?? "upload"
        guard spooling.writer != nil else {
            logger.error("S3 did not take the recording and it could not be spooled: \(error)", metadata: ["key": "\(key)", "s3_code": "\(s3Code)"])
            throw GatewayError(.serviceUnavailable, "s3_unavailable", "the bucket did not take the recording (\(error)); not stored, send it again")
        }
        do {
            try await spooling.drain()
        } catch {
            spooling.discard()
            throw error
        }
        let finished: (size: Int, checksum: String)
        do {
            guard let writer = spooling.writer else { throw SpoolWriteError(path: spool.settings.directory, errno: ENOSPC) }
            finished = try writer.finish(durable: true)
            let file = (writer.path as NSString).lastPathComponent
            let now = Date()
            let delay = replayBackoff.delay(beforeRetry: 0, unitRandom: Double.random(in: 0...1))
            let entry = try queue.enqueue(
                accountId: account.accountId,
                objectKey: key,
                requestPath: requestPath,
                spoolFile: file,
                size: finished.size,
                checksum: finished.checksum,
                lastError: "\(error)",
                firstAttemptAt: now.addingTimeInterval(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18),
                indexing: StoredObject(
                    accountId: account.accountId,
                    requestPath: requestPath,
                    objectKey: key,
                    size: finished.size,
                    checksum: finished.checksum,
                    etag: nil,
                    contentType: options.contentType,
                    storedAt: now
                ),
                now: now
            )
            spool.markWaiting(accountId: account.accountId, key: key, Spool.Waiting(file: file, size: finished.size))
            locator.remember(
                accountId: account.accountId,
                requestPath: requestPath,
                location: ObjectLocator.Location(key: key, contentType: options.contentType)
            )
            logger.warning(
                "S3 did not take the recording; spooled for replay: \(error)",
                metadata: ["key": "\(key)", "bytes": "\(finished.size)", "queue_id": "\(entry.id ?? 0)", "s3_code": "\(s3Code)"]
            )
            metrics.store(.spooled)
            return JSONResponse.make(
                .accepted,
                ["spooled": ["key": key, "size": finished.size, "checksum": finished.checksum, "queue_id": entry.id ?? 0]],
                noStore: false
            )
        } catch {
            spooling.discard()
            logger.error("S3 did not take the recording and spooling it failed: \(error)", metadata: ["key": "\(key)", "s3_code": "\(s3Code)"])
            throw GatewayError(
                .serviceUnavailable,
                "s3_unavailable",
                "the bucket did not take the recording and it could not be kept for later; not stored, send it again"
            )
        }
    }

    static func refusal(_ error: StoreBodyError, logger: Logger) -> GatewayError {
        switch error {
        case .truncated(let received, let declared):
            logger.notice("truncated body", metadata: ["received": "\(received)", "declared": "\(declared)"])
            return GatewayError(.badRequest, "truncated", "the body ended after \(received) of \(declared) bytes; nothing was stored")
        case .tooLarge(let limit):
            return GatewayError(.contentTooLarge, "too_large", "the body is larger than this gateway takes (\(limit) bytes); nothing was stored")
        case .malformed(let message):
            return GatewayError(.badRequest, "malformed_body", message)
        }
    }

    static func created(_ object: StoredObject) -> Response {
        JSONResponse.make(
            .created,
            ["stored": ["key": object.objectKey, "size": object.size, "checksum": object.checksum, "etag": object.etag ?? ""]],
            noStore: false
        )
    }
}

/// Content types for keys stored without one.
enum ContentTypes {
    static func guess(forKey key: String) -> String {
        let name = key.split(separator: "/").last ?? ""
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "mp3": return "audio/mpeg"
        case "wav": return "audio/wav"
        case "mp4", "m4a": return "audio/mp4"
        case "ogg", "oga": return "audio/ogg"
        case "txt": return "text/plain"
        case "json": return "application/json"
        default: return "application/octet-stream"
        }
    }
}
