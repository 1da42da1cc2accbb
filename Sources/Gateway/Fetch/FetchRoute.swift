import Foundation
import HTTPTypes
import Hummingbird
import KazooWire
import Logging
import NIOCore
import S3
import Spool

/// `GET`/`HEAD /k/<token>/<path>`: finds the stored object and answers as `FetchPlan` decides: a 302 to
/// a short-lived presigned S3 URL, the bytes streamed from S3 (proxy), or, for an object still waiting
/// in the spool, its spool file decrypted, so playback works during an outage.
struct FetchRoute: Sendable {
    let locator: ObjectLocator
    let ledger: RecordingLedger
    let defaultExpiry: Int
    let metrics: GatewayMetrics
    /// Streamed answers hold a slot (`StoreAdmission`) while their bytes pass through.
    let admission: StoreAdmission

    func resolve(_ auth: RequestAuthentication) async throws -> ObjectLocator.Location {
        let account = auth.entry.account
        do {
            return try await locator.locate(accountId: account.accountId, keyPrefix: account.keyPrefix, segments: auth.segments)
        } catch let error as ObjectKeyError {
            throw GatewayError.badPath(error.message)
        }
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
        let location = try await resolve(auth)
        let key = location.key
        let account = auth.entry.account
        let contentType = location.contentType ?? ContentTypes.guess(forKey: key)
        func plan(inSpool: Bool) -> FetchPlan {
            FetchPlan.choose(
                method: request.method,
                hasAuthorization: request.headers[.authorization] != nil,
                downloadMode: account.downloadMode,
                inSpool: inSpool
            )
        }
        let inSpool = ledger.isWaitingInSpool(accountId: account.accountId, key: key)
        if let node = location.pendingNode, !inSpool {
            // Safe in another gateway's spool, not in S3 yet: that node replays it (only it holds the file).
            throw GatewayError(
                .serviceUnavailable,
                "not_yet_in_s3",
                "the recording is safe in the spool of gateway \(node) and not in S3 yet; ask again shortly (or ask that node)",
                retryAfterSeconds: 10
            )
        }
        do {
            switch plan(inSpool: inSpool) {
            case .fromSpool:
                // Replayed meanwhile (the file is gone): S3 answers, as planned for an object not in the spool.
                let slot = request.method == .head ? nil : try await streamingSlot()
                if let answer = fromSpool(request, accountId: account.accountId, key: key, contentType: contentType, slot: slot, logger: logger) {
                    metrics.spoolFetch()
                    return answer
                }
                return try await fromS3(plan(inSpool: false), request, auth: auth, location: location, contentType: contentType, logger: logger)
            case let planned:
                return try await fromS3(planned, request, auth: auth, location: location, contentType: contentType, logger: logger)
            }
        } catch let error as S3Error {
            logger.error("S3 refused the fetch: \(error)", metadata: ["key": "\(key)", "s3_code": "\(error.code)"])
            // S3 out of reach or failing for now: try again later. Anything else (credentials, bucket) needs an operator.
            guard !error.isRetryable else {
                throw GatewayError(
                    .serviceUnavailable,
                    "s3_unavailable",
                    "the bucket cannot be reached now (\(error)); try again later",
                    retryAfterSeconds: 30
                )
            }
            throw GatewayError(.badGateway, "s3_error", "the bucket did not answer the fetch (\(error))")
        } catch let error as SigV4Error {
            throw GatewayError(.internalServerError, "presign_failed", "cannot presign the URL: \(error)")
        }
    }

    private func fromS3(
        _ plan: FetchPlan,
        _ request: Request,
        auth: RequestAuthentication,
        location: ObjectLocator.Location,
        contentType: String,
        logger: Logger
    ) async throws -> Response {
        let client = auth.entry.client
        let key = location.key
        switch plan {
        case .headFromS3:
            guard let info = try await client.headObject(key: key) else { throw GatewayError.notFound }
            return Response(
                status: .ok,
                headers: [.contentType: info.contentType ?? contentType, .contentLength: "\(info.size)", .cacheControl: "no-store"]
            )
        case .proxy:
            let slot = try await streamingSlot()
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
                    _ = slot  // held until the body is written (or the answer dropped)
                    var sent = 0
                    for try await chunk in object.body {
                        sent += chunk.readableBytes
                        try await writer.write(chunk)
                    }
                    // S3 ended early: the connection is closed short of Content-Length, never finished as whole.
                    guard sent == object.info.size else { throw ProxiedBodyShort(announced: object.info.size, sent: sent) }
                    try await writer.finish(nil)
                }
            )
        case .redirect, .fromSpool:
            let url = try Self.presignedLocation(auth.entry, location, defaultExpiry: defaultExpiry)
            metrics.redirected()
            return Response(status: .found, headers: [.location: url, .contentLength: "0", .cacheControl: "no-store"])
        }
    }

    /// A slot for an answer whose bytes pass through the gateway, or 503 `busy`.
    private func streamingSlot() async throws -> StoreAdmission.Slot {
        guard let slot = try await admission.slot() else { throw admission.busy() }
        return slot
    }

    /// The answer from the spool file holding `key`, or nil when none does (or it was just replayed).
    func fromSpool(
        _ request: Request,
        accountId: String,
        key: String,
        contentType: String,
        slot: StoreAdmission.Slot?,
        logger: Logger
    ) -> Response? {
        guard let (reader, size) = ledger.spooledCopy(accountId: accountId, key: key) else { return nil }
        let headers: HTTPFields = [
            .contentType: reader.header.contentType ?? contentType,
            .contentLength: "\(size)",
            .cacheControl: "no-store",
        ]
        if request.method == .head { return Response(status: .ok, headers: headers) }
        logger.info("served from the spool", metadata: ["key": "\(key)", "bytes": "\(size)"])
        let handoff = ReaderHandoff(reader: reader)
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(contentLength: size) { writer in
                _ = slot  // held until the body is written (or the answer dropped)
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

/// S3's answer to a proxied GET ended before the length it announced.
struct ProxiedBodyShort: Error, CustomStringConvertible {
    let announced: Int
    let sent: Int
    var description: String { "S3 sent \(sent) of the \(announced) bytes it announced" }
}
