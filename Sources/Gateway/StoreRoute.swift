import Foundation
import Hummingbird
import Logging
import S3

/// `PUT`/`POST /k/<token>/<path>`: streams the body into the account's bucket and answers 201 only
/// once S3 confirmed the object; anything else is an error, so KAZOO keeps the recording and retries.
struct StoreRoute: Sendable {
    let uploader: MultipartUploader
    let locator: ObjectLocator
    let maxRequestBytes: Int

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
            let result = try await uploader.upload(body, to: auth.entry.client, key: key, options: options, expectedLength: declared)
            let stored = StoredObject(
                accountId: account.accountId,
                requestPath: auth.segments.joined(separator: "/"),
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
            return Self.created(stored)
        } catch let error as StoreBodyError {
            throw Self.refusal(error, logger: logger)
        } catch let error as MultipartError {
            logger.notice("malformed multipart body: \(error.message)")
            throw GatewayError(.badRequest, "malformed_body", error.message)
        } catch let error as S3Error {
            logger.error("S3 did not take the recording: \(error)", metadata: ["key": "\(key)", "s3_code": "\(error.code)"])
            throw GatewayError(.serviceUnavailable, "s3_unavailable", "the bucket did not take the recording (\(error)); not stored, send it again")
        } catch let error as UploadError {
            logger.error("upload failed: \(error)", metadata: ["key": "\(key)"])
            throw GatewayError(.serviceUnavailable, "s3_unavailable", "the recording could not be stored (\(error)); not stored, send it again")
        } catch let error as GatewayError {
            throw error
        } catch {
            // Most often the client went away mid-body; the upload was abandoned and nothing was stored.
            logger.notice("store abandoned: \(error)", metadata: ["key": "\(key)", "received": "\(body.received)"])
            throw GatewayError(.badRequest, "body_incomplete", "the body could not be read to its end; nothing was stored")
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
