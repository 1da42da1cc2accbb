import Foundation
import GRDB
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

    func respond(to request: Request, context: GatewayContext) async throws -> Response {
        var logger = context.logger
        do {
            switch request.uri.path {
            case "/healthz":
                return HealthCheck.answer(ok: true, ["status": "alive"])
            case "/readyz":
                let problems = await health.problems()
                return HealthCheck.answer(
                    ok: problems.isEmpty,
                    problems.isEmpty ? ["status": "ready"] : ["status": "not ready", "problems": problems]
                )
            default:
                break
            }
            let auth = try RequestAuthentication.authenticate(request, directory: directory)
            logger[metadataKey: "account_id"] = "\(auth.entry.account.accountId)"
            switch request.method {
            case .put, .post:
                return try await storeRoute.store(request, context: context, auth: auth, logger: logger)
            case .get, .head:
                return try await fetchRoute.fetch(request, auth: auth, logger: logger)
            default:
                return GatewayError(.methodNotAllowed, "method_not_allowed", "use PUT or POST to store, GET or HEAD to fetch").response()
            }
        } catch let error as GatewayError {
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
}

/// `/readyz`: the database answers and the data directory is writable.
struct HealthCheck: Sendable {
    let database: AppDatabase
    let dataDirectory: String

    func problems() async -> [String] {
        var problems: [String] = []
        do {
            _ = try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            problems.append("database: \(error)")
        }
        if !FileManager.default.isWritableFile(atPath: dataDirectory) { problems.append("data directory \(dataDirectory) is not writable") }
        return problems
    }

    static func answer(ok: Bool, _ object: [String: Any]) -> Response {
        JSONResponse.make(ok ? .ok : .serviceUnavailable, object)
    }
}
