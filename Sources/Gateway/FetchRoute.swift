import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import S3

/// `GET`/`HEAD /k/<token>/<path>`: finds the stored object and answers with a 302 to a short-lived
/// presigned S3 URL, or streams the bytes itself when the account says `proxy` or the request carries
/// an `Authorization` header (Erlang's httpc would forward it to S3, which refuses it, and it would leak).
///
/// An object still waiting in the spool (S3 failed when it was stored) is streamed from its spool file,
/// decrypted, so playback works during an outage.
struct FetchRoute: Sendable {
    let locator: ObjectLocator
    let defaultExpiry: Int
    let spool: Spool
    let metrics: GatewayMetrics

    func resolve(_ auth: RequestAuthentication) throws -> ObjectLocator.Location {
        let account = auth.entry.account
        return try locator.locate(accountId: account.accountId, keyPrefix: account.keyPrefix, segments: auth.segments)
    }

    /// The presigned URL a redirect points at: the account's credentials and expiry, the object's content type.
    static func presignedLocation(_ entry: AccountDirectory.Entry, _ location: ObjectLocator.Location, defaultExpiry: Int) throws -> String {
        try entry.client.presignedGetURL(
            key: location.key,
            expires: entry.account.presignExpirySeconds ?? defaultExpiry,
            responseContentType: location.contentType ?? ContentTypes.guess(forKey: location.key)
        ).url
    }

    func fetch(_ request: Request, auth: RequestAuthentication, logger: Logger) async throws -> Response {
        let location = try resolve(auth)
        let key = location.key
        let account = auth.entry.account
        let client = auth.entry.client
        let contentType = location.contentType ?? ContentTypes.guess(forKey: key)
        if let answer = fromSpool(request, accountId: account.accountId, key: key, contentType: contentType, logger: logger) {
            metrics.spoolFetch()
            return answer
        }
        do {
            if request.method == .head {
                guard let info = try await client.headObject(key: key) else { throw GatewayError.notFound }
                return Response(
                    status: .ok,
                    headers: [.contentType: info.contentType ?? contentType, .contentLength: "\(info.size)", .cacheControl: "no-store"]
                )
            }
            if request.headers[.authorization] != nil || account.downloadMode == .proxy {
                guard let object = try await client.getObject(key: key) else { throw GatewayError.notFound }
                logger.info("proxied", metadata: ["key": "\(key)", "bytes": "\(object.info.size)"])
                metrics.proxiedFetch()
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: object.info.contentType ?? contentType,
                        .contentLength: "\(object.info.size)",
                        .cacheControl: "no-store",
                    ],
                    body: ResponseBody(contentLength: object.info.size) { writer in
                        for try await chunk in object.body { try await writer.write(chunk) }
                        try await writer.finish(nil)
                    }
                )
            }
            let url = try Self.presignedLocation(auth.entry, location, defaultExpiry: defaultExpiry)
            metrics.redirected()
            return Response(status: .found, headers: [.location: url, .contentLength: "0", .cacheControl: "no-store"])
        } catch let error as S3Error {
            logger.error("S3 refused the fetch: \(error)", metadata: ["key": "\(key)", "s3_code": "\(error.code)"])
            throw GatewayError(.badGateway, "s3_error", "the bucket did not answer the fetch (\(error))")
        } catch let error as SigV4Error {
            throw GatewayError(.internalServerError, "presign_failed", "cannot presign the URL: \(error)")
        }
    }

    /// The answer from the spool file holding `key`, or nil when none does (or it was just replayed).
    func fromSpool(_ request: Request, accountId: String, key: String, contentType: String, logger: Logger) -> Response? {
        guard let waiting = spool.waitingObject(accountId: accountId, key: key) else { return nil }
        let reader: SpoolReader
        do {
            reader = try SpoolReader(path: spool.path(waiting.file), masterKey: spool.masterKey)
        } catch {
            // Replayed and removed meanwhile (or unreadable, which the replay reports): S3 answers.
            spool.markGone(accountId: accountId, key: key, file: waiting.file)
            return nil
        }
        guard reader.header.accountId == accountId, reader.header.objectKey == key else { return nil }
        let headers: HTTPFields = [
            .contentType: reader.header.contentType ?? contentType,
            .contentLength: "\(waiting.size)",
            .cacheControl: "no-store",
        ]
        if request.method == .head { return Response(status: .ok, headers: headers) }
        logger.info("served from the spool", metadata: ["key": "\(key)", "bytes": "\(waiting.size)"])
        let handoff = ReaderHandoff(reader: reader)
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(contentLength: waiting.size) { writer in
                // The open file stays readable even if a replay removes it meanwhile.
                while let chunk = try handoff.reader.next() { try await writer.write(ByteBuffer(bytes: chunk)) }
                try await writer.finish(nil)
            }
        )
    }
}

/// Hands an opened spool reader to the response body's writer task, which alone uses it from then on.
private struct ReaderHandoff: @unchecked Sendable {
    let reader: SpoolReader
}
