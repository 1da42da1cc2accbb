import Foundation
import Hummingbird
import Logging

/// The admin listener (default 127.0.0.1 only): `/metrics` for a local Prometheus, readable without a
/// token (account ids in its labels stay off the KAZOO-facing port), the admin page (`/`), and the JSON API under `/api/`,
/// which needs `Authorization: Bearer <admin token>`; without a configured token the API is closed.
struct AdminResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let api: AdminAPI
    /// The admin token's hash (compared in constant time with the presented token's); nil: the API is closed.
    let adminTokenHash: String?

    init(api: AdminAPI, adminToken: String?) {
        self.api = api
        self.adminTokenHash = adminToken.map(ClientToken.hash)
    }

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let path = request.uri.path
        if path == "/metrics" && request.method == .get {
            do {
                let text = try await api.metricsText()
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: text))
                )
            } catch {
                return GatewayError(.serviceUnavailable, "metrics_unavailable", "the database could not be read: \(error)").response()
            }
        }
        if request.method == .get || request.method == .head, let page = AdminPage.response(path: path) { return page }
        guard path.hasPrefix("/api/") else { return GatewayError(.notFound, "not_found", "no such admin route").response() }
        guard let adminTokenHash else {
            return GatewayError(.unauthorized, "admin_api_closed", "set admin_token in the configuration (or RG_ADMIN_TOKEN) to use the admin API")
                .response()
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            ClientToken.hashesMatch(ClientToken.hash(String(header.dropFirst("Bearer ".count))), adminTokenHash)
        else {
            return GatewayError(.unauthorized, "unauthorized", "send Authorization: Bearer <admin token>").response()
        }
        return try await api.respond(request, path: path)
    }
}
