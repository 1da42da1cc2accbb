public import AsyncHTTPClient
public import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import NIOCore
import NIOSSL
public import S3
public import ServiceLifecycle
public import UnixSignals

/// The running gateway's parts, built once at start-up: the database, the account directory, the
/// shared HTTP client and memory budget, and the application serving KAZOO. `serve` and the tests
/// build exactly this.
public struct GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let database: AppDatabase
    public let accounts: AccountStore
    public let http: HTTPClient
    public let budget: MemoryBudget
    public let spool: Spool
    public let queue: UploadQueue
    public let metrics: GatewayMetrics
    let startedAt: ContinuousClock.Instant
    let adminToken: String?
    let directory: AccountDirectory
    let locator: ObjectLocator
    let logger: Logger

    /// Opens the data directory, checks the master key against the sealed secrets (a wrong key is an
    /// error that changes nothing) and loads the accounts.
    ///
    /// `serve` opens the spool as its owner (`ownsSpool`): it takes the spool's lock and recovers from a
    /// crash — rows a dead worker held go back to `pending`, spool files no row refers to (never
    /// acknowledged, or already stored) are removed. The `queue` commands open it beside a running serve.
    public static func open(
        config: GatewayConfig,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        s3Configuration: S3ClientConfiguration? = nil,
        ownsSpool: Bool = true,
        logger: Logger = Logger(label: "gateway")
    ) async throws -> GatewayRuntime {
        // Every line logged while a request or replay runs carries its metadata (RequestLogMetadata).
        var logger = logger
        logger.handler.metadataProvider =
            logger.handler.metadataProvider.map { .multiplex([$0, RequestLogMetadata.provider]) }
            ?? RequestLogMetadata.provider
        let database = try AppDatabase.open(dataDirectory: config.dataDir)
        let sealed = try AccountStore.holdsSealedSecrets(database)
        let masterKey = try MasterKey.load(dataDirectory: config.dataDir, environment: environment, mayCreate: !sealed)
        let accounts = AccountStore(database: database, masterKey: masterKey)
        try accounts.checkMasterKey()

        let spool = try Spool(settings: config.spoolSettings, masterKey: masterKey, exclusive: ownsSpool, logger: logger)
        let queue = UploadQueue(database: database)
        if ownsSpool {
            let recovered = try queue.recoverInterrupted()
            let removed = spool.removeUnreferenced(keeping: try queue.referencedSpoolFiles())
            for entry in try queue.list() where entry.state != .stored {
                spool.markWaiting(accountId: entry.accountId, key: entry.objectKey, Spool.Waiting(file: entry.spoolFile, size: entry.size))
            }
            if recovered > 0 || removed > 0 {
                logger.notice(
                    "recovered the spool after an interrupted run",
                    metadata: ["uploads_back_to_pending": "\(recovered)", "unacknowledged_files_removed": "\(removed)"]
                )
            }
        }

        let metrics = GatewayMetrics()
        var s3 = s3Configuration ?? S3ClientConfiguration()
        if s3Configuration == nil { s3.retry = config.retryPolicy }
        s3.observer = metrics
        let http = S3Client.makeHTTPClient(configuration: s3)
        let directory = AccountDirectory(store: accounts, http: http, s3Configuration: s3, logger: logger)
        do {
            try await directory.refresh()
        } catch {
            try? await http.shutdown()
            throw error
        }
        return GatewayRuntime(
            config: config,
            database: database,
            accounts: accounts,
            http: http,
            budget: MemoryBudget(capacity: config.memoryBudgetBytes),
            spool: spool,
            queue: queue,
            metrics: metrics,
            startedAt: .now,
            adminToken: environment["RG_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? config.adminToken,
            directory: directory,
            locator: ObjectLocator(index: ObjectIndex(database: database)),
            logger: logger
        )
    }

    /// Picks up account changes now (the server also polls once a second).
    public func reloadAccounts() async throws { try await directory.refresh() }

    public var accountCount: Int { directory.count }

    /// The uploader live stores and replays share (one memory budget).
    var uploader: MultipartUploader {
        MultipartUploader(budget: budget, partSize: config.partSizeBytes, parallelParts: config.parallelParts, logger: logger)
    }

    /// Replays queued uploads (the worker, and `queue replay`).
    public var replayer: Replayer {
        Replayer(
            queue: queue,
            spool: spool,
            directory: directory,
            uploader: uploader,
            locator: locator,
            backoff: config.replayBackoff,
            metrics: metrics,
            logger: logger
        )
    }

    /// `/metrics`: the Prometheus text, gauges read now.
    func metricsText() throws -> String {
        try metrics.render(queue: queue, spool: spool, budget: budget, accountIds: directory.accountIds)
    }

    /// `/api/status`.
    func status() -> [String: Any] {
        let uptime = ContinuousClock.now - startedAt
        // One grouped count (the snapshot /metrics reads), not every row; stored rows are history, not depth.
        let counts = (try? queue.metricsSnapshot(now: Date()).counts) ?? [:]
        var queueDepth: [String: Int] = [:]
        for state in UploadQueue.State.allCases { queueDepth[state.rawValue] = state == .stored ? 0 : counts[state] ?? 0 }
        return [
            "version": GatewayVersion.current,
            "uptime_seconds": uptime.components.seconds,
            "accounts": directory.count,
            "memory_budget": ["in_use_bytes": budget.inUse, "capacity_bytes": budget.capacity],
            "queue": queueDepth,
        ]
    }

    /// The admin listener's application (`/metrics`, `/api/...`).
    func adminApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void) throws -> some ApplicationProtocol {
        let address = try ListenAddress(config.adminListen)
        return Application(
            responder: AdminResponder(runtime: self, adminToken: adminToken),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The connection check (`verify`) of one account with its stored credentials; nil for an unknown account.
    public func connectionCheck(accountId: String) throws -> ConnectionCheck? {
        guard let entry = directory.entry(forAccountId: accountId) else { return nil }
        return ConnectionCheck(client: entry.client, region: try entry.account.endpoint().region, keyPrefix: entry.account.keyPrefix)
    }

    /// The operator's `queue discard`: deletes the row and its spool file.
    public func discard(_ entry: UploadQueue.Entry) throws {
        guard let id = entry.id else { return }
        try queue.delete(id)
        spool.remove(entry.spoolFile)
        spool.markGone(accountId: entry.accountId, key: entry.objectKey, file: entry.spoolFile)
    }

    /// The KAZOO-facing application.
    public func application(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let address = try ListenAddress(config.listen)
        let responder = GatewayResponder(
            directory: directory,
            storeRoute: StoreRoute(
                uploader: uploader,
                locator: locator,
                maxRequestBytes: config.maxRequestBytes,
                spool: spool,
                queue: queue,
                replayBackoff: config.replayBackoff,
                metrics: metrics
            ),
            fetchRoute: FetchRoute(locator: locator, defaultExpiry: config.presignExpirySeconds, spool: spool, metrics: metrics),
            health: HealthCheck(database: database, dataDirectory: config.dataDir, spool: spool),
            metrics: metrics
        )
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(
                additionalChannelHandlers: [
                    ExpectContinueHandler(),
                    FastRedirectHandler(
                        directory: directory,
                        locator: locator,
                        defaultExpiry: config.presignExpirySeconds,
                        spool: spool,
                        metrics: metrics
                    ),
                ],
                idleTimeout: .seconds(300)
            )
        )
        let server: HTTPServerBuilder
        if let certificate = config.tlsCertificateFile, let key = config.tlsKeyFile {
            server = try .tls(http1, tlsConfiguration: try Self.tlsConfiguration(certificate: certificate, key: key))
        } else {
            server = http1
        }
        return Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
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

    /// The services `serve` runs: the server, the admin listener, the account poller and the replay worker.
    func services(
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        onAdminRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> [any Service] {
        [
            try application(onServerRunning: onServerRunning),
            try adminApplication(onServerRunning: onAdminRunning),
            AccountDirectoryRefresher(directory: directory),
            ReplayWorker(replayer: replayer, concurrency: config.replayConcurrency, pollInterval: .seconds(1), logger: logger),
        ]
    }

    /// The service group `run` runs: on one of `signals` (or `triggerGracefulShutdown`) it stops accepting,
    /// lets in-flight requests finish for up to `shutdown_drain_seconds`, then cancels what is left.
    public func serviceGroup(
        gracefulShutdownSignals signals: [UnixSignal] = [.sigterm, .sigint],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        onAdminRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: try services(onServerRunning: onServerRunning, onAdminRunning: onAdminRunning).map { .init(service: $0) },
            gracefulShutdownSignals: signals,
            cancellationSignals: [],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = .seconds(config.shutdownDrainSeconds)
        return ServiceGroup(configuration: configuration)
    }

    /// Runs until SIGTERM or SIGINT, then drains (see `serviceGroup`) and closes the S3 connections.
    public func run(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        let group = try serviceGroup(onServerRunning: onServerRunning)
        do {
            try await group.run()
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        logger.info("stopped")
    }
}
