import Foundation
import Hummingbird
import Logging
import S3

/// `GET`/`HEAD /k/<token>/<path>`: finds the stored object and answers with a 302 to a short-lived
/// presigned S3 URL, or streams the bytes itself when the account says `proxy` or the request carries
/// an `Authorization` header (Erlang's httpc would forward it to S3, which refuses it, and it would leak).
struct FetchRoute: Sendable {
    let index: ObjectIndex
    let defaultExpiry: Int

    /// The object a fetch means. KAZOO fetches the stored URL plus the path again plus a metadata query
    /// (KAZOO.md): the longest stored prefix wins; without an index row, the first half of a doubled
    /// path, else the whole path.
    func resolve(_ auth: RequestAuthentication) async throws -> (key: String, contentType: String?) {
        let account = auth.entry.account
        if let stored = try await index.longestStoredPrefix(accountId: account.accountId, segments: auth.segments) {
            return (stored.objectKey, stored.contentType)
        }
        var segments = auth.segments
        let half = segments.count / 2
        if segments.count % 2 == 0, half > 0, segments[..<half].elementsEqual(segments[half...]) {
            segments = Array(segments[..<half])
        }
        do {
            return (try ObjectKey.key(prefix: account.keyPrefix, segments: segments), nil)
        } catch {
            throw GatewayError.badPath(error.message)
        }
    }

    func fetch(_ request: Request, auth: RequestAuthentication, logger: Logger) async throws -> Response {
        let (key, indexedType) = try await resolve(auth)
        let account = auth.entry.account
        let client = auth.entry.client
        let contentType = indexedType ?? ContentTypes.guess(forKey: key)
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
            let url = try client.presignedGetURL(key: key, expires: account.presignExpirySeconds ?? defaultExpiry, responseContentType: contentType)
            return Response(status: .found, headers: [.location: url.url, .contentLength: "0", .cacheControl: "no-store"])
        } catch let error as S3Error {
            logger.error("S3 refused the fetch: \(error)", metadata: ["key": "\(key)", "s3_code": "\(error.code)"])
            throw GatewayError(.badGateway, "s3_error", "the bucket did not answer the fetch (\(error))")
        } catch let error as SigV4Error {
            throw GatewayError(.internalServerError, "presign_failed", "cannot presign the URL: \(error)")
        }
    }
}
