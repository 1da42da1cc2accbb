import Foundation
import Hummingbird
import KazooWire
import Logging
import S3
import Spool

/// `PUT`/`POST /k/<token>/<path>`: streams the body into the account's bucket, kept for an encrypted spool
/// file (`SpoolingBody`: written ahead, or, for one PutObject, from memory only if S3 fails). 201 once S3
/// confirmed the object (the spool file, if any, is not fsync'd and goes); if S3 fails, the rest of the body
/// goes to the spool file, which is made durable and queued for replay before the answer is 202. Without a
/// spool file (spooling off, disk full, quota) an S3 failure is a 503: nothing is acknowledged that is not safe.
struct StoreRoute: Sendable {
    let uploader: MultipartUploader
    let admission: StoreAdmission
    let ledger: RecordingLedger
    let maxRequestBytes: Int
    let metrics: GatewayMetrics

    /// What a store asks for, read from its head: decided before the body is read, so a refusal costs
    /// the client nothing (no `100 Continue` is sent for it).
    struct Target {
        var key: String
        var requestPath: String
        var declaredLength: Int?
        var contentType: String?
        var multipartBoundary: String?
    }

    func target(of request: Request, auth: RequestAuthentication) throws -> Target {
        let key: String
        do {
            key = try ObjectKey.key(prefix: auth.entry.account.keyPrefix, segments: auth.segments)
        } catch {
            throw GatewayError.badPath(error.message)
        }
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > maxRequestBytes {
            throw GatewayError(.contentTooLarge, "too_large", "the body is \(declared) bytes; this gateway takes at most \(maxRequestBytes)")
        }
        let contentType = request.headers[.contentType]
        let boundary = contentType.flatMap(KazooMultipartParser.boundary(fromContentType:))
        // A recording is never multipart: a multipart body the parser cannot read (no boundary, another
        // subtype) would otherwise be stored whole, envelope and all, as the recording.
        if boundary == nil, let contentType, contentType.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("multipart/") {
            throw GatewayError(
                .badRequest,
                "malformed_body",
                "the body is \(contentType.split(separator: ";").first ?? "multipart") without a multipart/form-data boundary the gateway can read; nothing was stored"
            )
        }
        return Target(
            key: key,
            requestPath: auth.segments.joined(separator: "/"),
            declaredLength: declared,
            contentType: contentType,
            multipartBoundary: boundary
        )
    }

    /// The object's settings: the account's, the content type (the file part's for multipart), and the
    /// metadata from the query and the multipart JSON part.
    func objectOptions<Source>(_ account: Account, _ target: Target, query: String?, body: StoreBody<Source>) -> S3ObjectOptions {
        var options = account.objectOptions
        let multipart = target.multipartBoundary != nil
        let partType = multipart ? body.fileHeaders?.contentType : target.contentType
        options.contentType = partType.flatMap { $0.isEmpty ? nil : $0 } ?? ContentTypes.guess(forKey: target.key)
        options.metadata = RecordingMetadata.build(query: RecordingMetadata.queryPairs(query), json: multipart ? body.json : nil)
        return options
    }

    func store(_ request: Request, context: GatewayContext, auth: RequestAuthentication, logger: Logger) async throws -> Response {
        let account = auth.entry.account
        let target = try target(of: request, auth: auth)
        let key = target.key
        // A slot first (the memory this store's connection may hold), then `100 Continue`: a store that
        // waits here holds only the bytes that came with its head.
        guard let slot = try await admission.slot() else {
            metrics.storeLimited("admission_timeout")
            throw admission.busy()
        }
        defer { withExtendedLifetime(slot) {} }
        // Accepted: now the client may send the body.
        await context.acceptBody()

        var body = StoreBody(
            source: FlowControlledBody(request.body, channel: context.channel),
            declaredLength: target.declaredLength,
            limit: maxRequestBytes,
            multipartBoundary: target.multipartBoundary
        )
        let started = ContinuousClock.now
        do {
            try await body.readToFilePart()
            let options = objectOptions(account, target, query: request.uri.query, body: body)
            let spooling = SpoolingBody(
                body: body,
                header: SpoolFile.Header(
                    accountId: account.accountId,
                    objectKey: key,
                    requestPath: target.requestPath,
                    contentType: options.contentType,
                    metadata: options.metadata
                ),
                mode: uploader.isOnePut(expectedLength: target.declaredLength) ? .onFailure : .writeAhead,
                ledger: ledger,
                logger: logger
            )
            let result: UploadResult
            do {
                result = try await uploader.upload(
                    spooling,
                    to: auth.entry.client,
                    key: key,
                    options: options,
                    expectedLength: target.declaredLength,
                    notTaken: { spooling.spoolWhole($0) }
                )
            } catch let error where Self.isS3Failure(error) {
                return try await spoolAfterFailure(
                    error,
                    spooling,
                    account: account,
                    key: key,
                    requestPath: target.requestPath,
                    options: options,
                    logger: logger
                )
            } catch {
                ledger.abandoned(spooling.writer)
                body = spooling.body
                throw error
            }
            body = spooling.body
            let stored = StoredObject(
                accountId: account.accountId,
                requestPath: target.requestPath,
                objectKey: key,
                size: result.size,
                checksum: result.checksum,
                etag: result.etag,
                contentType: options.contentType,
                storedAt: Date()
            )
            await ledger.stored(stored, spoolFile: spooling.writer, logger: logger)
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
        } catch let error as BodyIdleTimeout {
            logger.notice("store dropped: \(error)", metadata: ["key": "\(key)", "received": "\(body.received)"])
            metrics.storeLimited("body_idle")
            throw GatewayError(.requestTimeout, "body_idle", "\(error); nothing was stored")
        } catch {
            // Most often the client went away mid-body; the upload was abandoned and nothing was stored.
            logger.notice("store abandoned: \(error)", metadata: ["key": "\(key)", "received": "\(body.received)"])
            throw GatewayError(.badRequest, "body_incomplete", "the body could not be read to its end; nothing was stored")
        }
    }

    /// S3 (or the way to it) failed, not the request: the spool can take over.
    static func isS3Failure(_ error: any Error) -> Bool { error is S3Error || error is UploadError }

    /// S3 failed: with a spool file, reads the rest of the body into it and hands it to the ledger, which
    /// makes it durable and queues it (and indexes it, so fetches find it); then 202. Without one, 503.
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
            throw GatewayError(
                .serviceUnavailable,
                "s3_unavailable",
                "the bucket did not take the recording (\(error)); not stored, send it again",
                retryAfterSeconds: 30
            )
        }
        do {
            try await spooling.drain()
        } catch {
            ledger.abandoned(spooling.writer)
            throw error
        }
        do {
            // A spool write that failed while draining (disk full, quota) dropped the writer.
            guard let writer = spooling.writer else { throw SpoolWriteError(path: ledger.spool.settings.directory, errno: ENOSPC) }
            let entry = try await ledger.spooled(
                writer,
                accountId: account.accountId,
                key: key,
                requestPath: requestPath,
                contentType: options.contentType,
                reason: "\(error)"
            )
            logger.warning(
                "S3 did not take the recording; spooled for replay: \(error)",
                metadata: ["key": "\(key)", "bytes": "\(entry.size)", "queue_id": "\(entry.id ?? 0)", "s3_code": "\(s3Code)"]
            )
            metrics.store(.spooled)
            return JSONResponse.make(
                .accepted,
                ["spooled": ["key": key, "size": entry.size, "checksum": entry.checksum, "queue_id": entry.id ?? 0]],
                noStore: false
            )
        } catch {
            ledger.abandoned(spooling.writer)
            logger.error("S3 did not take the recording and spooling it failed: \(error)", metadata: ["key": "\(key)", "s3_code": "\(s3Code)"])
            throw GatewayError(
                .serviceUnavailable,
                "s3_unavailable",
                "the bucket did not take the recording and it could not be kept for later (\(Self.reason(error))); not stored, send it again",
                retryAfterSeconds: 30
            )
        }
    }

    /// Why a recording could not be kept, for the answer: the spool's or the database's words, nothing more.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as DatabaseUnavailable: "the database: \(error.description)"
        case let error as SpoolWriteError: "the spool: \(error)"
        default: "see the gateway's log"
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
        JSONResponse.stored(key: object.objectKey, size: object.size, checksum: object.checksum, etag: object.etag ?? "")
    }
}
