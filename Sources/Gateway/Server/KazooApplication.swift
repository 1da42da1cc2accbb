import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import S3

/// The KAZOO-facing application: `/k/...` stores and fetches, `/healthz`, `/readyz`, over HTTP/1 with
/// `100 Continue` answered when a store is accepted and the common redirect answered on the event loop.
enum KazooApplication {
    static func build(
        config: GatewayConfig,
        directory: AccountDirectory,
        ledger: RecordingLedger,
        uploader: MultipartUploader,
        admission: StoreAdmission,
        health: HealthCheck,
        metrics: GatewayMetrics,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void
    ) throws -> some ApplicationProtocol {
        let address = try ListenAddress(config.listen)
        let locator = ledger.locator
        let responder = GatewayResponder(
            directory: directory,
            storeRoute: StoreRoute(
                uploader: uploader,
                admission: admission,
                ledger: ledger,
                maxRequestBytes: config.maxRequestBytes,
                metrics: metrics
            ),
            fetchRoute: FetchRoute(
                locator: locator,
                ledger: ledger,
                defaultExpiry: config.presignExpirySeconds,
                metrics: metrics,
                admission: admission
            ),
            health: health,
            metrics: metrics,
            guessing: GuessingGuard(refill: config.guessingRefill)
        )
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: [
                    BodyFlowGate(
                        idleTimeout: .seconds(Int64(config.bodyIdleTimeoutSeconds)),
                        connections: admission.memory.connections,
                        flowingBudget: admission.memory.flowingReads
                    ),
                    FastRedirectHandler(
                        directory: directory,
                        locator: locator,
                        ledger: ledger,
                        defaultExpiry: config.presignExpirySeconds,
                        metrics: metrics
                    ),
                ],
                idleTimeout: .seconds(300)
            )
        )
        let server: HTTPServerBuilder
        if let certificate = config.tlsCertificateFile, let key = config.tlsKeyFile {
            server = try .tls(http1, tlsConfiguration: try tlsConfiguration(certificate: certificate, key: key))
        } else {
            server = http1
        }
        return Application(
            responder: responder,
            server: server,
            // Connections beyond max_connections wait in the kernel's backlog: let it hold them.
            configuration: ApplicationConfiguration(
                address: .hostname(address.host, port: address.port),
                serverName: nil,
                backlog: 4096,
                availableConnectionsDelegate: admission.memory.connections
            ),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw ConfigError("tls_certificate_file \(certificate) cannot be read as a PEM certificate chain: \(error)")
        }
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw ConfigError("tls_key_file \(key) cannot be read as a PEM private key: \(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}
