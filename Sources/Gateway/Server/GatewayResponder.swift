import Foundation
import Hummingbird
import Logging

/// The KAZOO-facing listener's one responder: `/k/...` stores and fetches, `/healthz`, `/readyz`.
/// Every failure becomes a JSON error; logs carry the request id and account, never the path's token.
struct GatewayResponder: HTTPResponder {
    typealias Context = GatewayContext

    let directory: AccountDirectory
    let storeRoute: StoreRoute
    let fetchRoute: FetchRoute
    let health: HealthCheck
    let metrics: GatewayMetrics
    /// Slows addresses that keep naming no account (token guessing).
    let guessing: GuessingGuard

    func respond(to request: Request, context: GatewayContext) async throws -> Response {
        var logger = context.logger
        do {
            switch request.uri.path {
            case "/healthz":
                return HealthCheck.answer(ok: true, ["status": "alive"])
            case "/readyz":
                let problems = await health.problems()
                var answer: [String: Any] = problems.isEmpty ? ["status": "ready"] : ["status": "not ready", "problems": problems]
                answer["spool"] = health.spoolReport()
                return HealthCheck.answer(ok: problems.isEmpty, answer)
            default:
                break
            }
            let auth = try await authenticate(request, from: context.channel.remoteAddress?.ipAddress ?? "unknown", logger: logger)
            logger[metadataKey: "account_id"] = "\(auth.entry.account.accountId)"
            // The S3 client's and uploader's lines for this request carry its id and account too.
            let metadata = ["hb.request.id": logger[metadataKey: "hb.request.id"] ?? "", "account_id": "\(auth.entry.account.accountId)"]
            return try await RequestLogMetadata.with(metadata) { [logger] in
                switch request.method {
                case .put, .post:
                    return try await storeRoute.store(request, context: context, auth: auth, logger: logger)
                case .get, .head:
                    return try await fetchRoute.fetch(request, auth: auth, logger: logger)
                default:
                    return GatewayError(.methodNotAllowed, "method_not_allowed", "use PUT or POST to store, GET or HEAD to fetch").response()
                }
            }
        } catch let error as GatewayError {
            if request.method == .put || request.method == .post {
                metrics.store(error.status.code >= 500 ? .failed : .refused)
            }
            if error.status.code >= 500 {
                logger.warning(
                    "refused",
                    metadata: [
                        "status": "\(error.status.code)", "code": "\(error.code)", "path": "\(RequestAuthentication.redactedPath(request.uri.path))",
                    ]
                )
            } else {
                logger.notice(
                    "refused",
                    metadata: [
                        "status": "\(error.status.code)", "code": "\(error.code)", "path": "\(RequestAuthentication.redactedPath(request.uri.path))",
                    ]
                )
            }
            return error.response()
        } catch {
            logger.error("unexpected failure: \(error)", metadata: ["path": "\(RequestAuthentication.redactedPath(request.uri.path))"])
            return GatewayError(.internalServerError, "internal", "the gateway failed to handle this request; see its log").response()
        }
    }

    /// The request's account; credentials no account here matches are tried once more after the accounts are
    /// read again (`AccountDirectory.reloadForUnknownCredentials`), so an account added a moment ago never
    /// sees a 401 — unless `address` keeps failing (`GuessingGuard`): then 429, and no database read.
    private func authenticate(_ request: Request, from address: String, logger: Logger) async throws(GatewayError) -> RequestAuthentication {
        do {
            return try RequestAuthentication.authenticate(request, directory: directory)
        } catch  where error.status == .unauthorized {
            if !guessing.isThrottled(address), await directory.reloadForUnknownCredentials(),
                let auth = try? RequestAuthentication.authenticate(request, directory: directory)
            {
                return auth
            }
            guard let verdict = guessing.failed(from: address) else {
                metrics.authenticationFailed(throttled: false)
                throw error
            }
            metrics.authenticationFailed(throttled: true)
            if verdict.log {
                logger.warning(
                    "credentials that name no account, again and again, from one address: slowed (429)",
                    metadata: ["client": "\(address)"]
                )
            }
            throw GatewayError(
                .tooManyRequests,
                "too_many_failures",
                "too many requests with credentials that name no account from this address; try again later",
                retryAfterSeconds: verdict.retryAfter
            )
        }
    }
}
