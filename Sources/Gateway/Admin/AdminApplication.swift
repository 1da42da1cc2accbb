import Hummingbird
import Logging
import NIOCore

/// The admin listener's application (`/metrics`, the page, `/api/...`).
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
            responder: AdminResponder(api: api, adminToken: adminToken),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }
}
