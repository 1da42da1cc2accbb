import Hummingbird
import Logging
import NIOCore

/// The admin listener's application (default 127.0.0.1 only): `/metrics` for a local Prometheus,
/// readable without a token (account ids in its labels stay off the KAZOO-facing port), the admin
/// page (`/`), and the JSON API under `/api/` behind the admin token.
enum AdminApplication {
    static func build(
        address text: String,
        adminToken: String?,
        api: AdminAPI,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) throws -> some ApplicationProtocol {
        let address = try ListenAddress(text)
        return Application(
            router: router(adminToken: adminToken, api: api),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    static func router(adminToken: String?, api: AdminAPI) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AdminNotFoundMiddleware())
        router.add(middleware: AdminTokenMiddleware(adminToken: adminToken))
        router.get("metrics") { _, _ in
            do {
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: try await api.metricsText()))
                )
            } catch {
                throw GatewayError(.serviceUnavailable, "metrics_unavailable", "the database could not be read: \(error)")
            }
        }
        for path in AdminPage.paths {
            router.get(RouterPath(path)) { request, _ in try AdminPage.response(path: request.uri.path) }
            router.head(RouterPath(path)) { request, _ in try AdminPage.response(path: request.uri.path) }
        }
        router.addRoutes(api.routes, atPath: "api")
        return router
    }
}
