public import AsyncHTTPClient
import Foundation
import Logging
public import NIOCore
public import S3
public import ServiceLifecycle
public import UnixSignals

/// The running gateway's parts, built once by `GatewayBootstrap.open`, and the wiring between them:
/// the KAZOO application, the admin application, the account poller and the replay worker as one
/// service group. `serve` and the tests run exactly this.
public struct GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let storage: any GatewayStorage
    public let accounts: AccountRegistry
    public let ledger: RecordingLedger
    public let http: HTTPClient
    public let memory: GatewayMemory
    public let metrics: GatewayMetrics
    let directory: AccountDirectory
    let adminToken: String?
    let logger: Logger

    /// Picks up account changes now (the server also polls once a second).
    public func reloadAccounts() async throws { try await directory.refresh() }

    public var accountCount: Int { directory.count }

    /// The uploader live stores and replays share (one memory budget).
    var uploader: MultipartUploader {
        MultipartUploader(budget: memory.parts, partSize: config.partSizeBytes, parallelParts: config.parallelParts, logger: logger)
    }

    /// Replays queued uploads (the worker, and `queue replay`), with the same budget as live stores, after them.
    public var replayer: Replayer {
        let uploader = MultipartUploader(
            budget: memory.parts,
            partSize: config.partSizeBytes,
            parallelParts: config.parallelParts,
            priority: .background,
            logger: logger
        )
        return Replayer(ledger: ledger, directory: directory, uploader: uploader, observer: metrics, logger: logger)
    }

    /// The connection check (`verify`) of one account with its stored credentials; nil for an unknown account.
    public func connectionCheck(accountId: String) throws -> ConnectionCheck? {
        try ConnectionCheck.forAccount(accountId, in: directory)
    }

    /// The services `serve` runs: the server, the admin listener, the account poller, the allocator's trim, the
    /// queue history's pruning and the replay worker.
    func services(
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in },
        onAdminRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws -> [any Service] {
        let traffic = LiveTraffic()
        return [
            try KazooApplication.build(
                config: config,
                directory: directory,
                ledger: ledger,
                uploader: uploader,
                admission: StoreAdmission(memory: memory, timeout: .seconds(config.admissionTimeoutSeconds), traffic: traffic),
                health: HealthCheck(storage: storage, dataDirectory: config.dataDir, ledger: ledger),
                metrics: metrics,
                logger: logger,
                onServerRunning: onServerRunning
            ),
            try AdminApplication.build(
                address: config.adminListen,
                adminToken: adminToken,
                api: AdminAPI(
                    accounts: accounts,
                    directory: directory,
                    ledger: ledger,
                    memory: memory,
                    metrics: metrics,
                    publicBaseURL: config.publicBaseURL
                ),
                logger: logger,
                onServerRunning: onAdminRunning
            ),
            AccountDirectoryRefresher(directory: directory),
            FreeMemoryReturner(parts: memory.parts),
            QueueHistoryPruner(ledger: ledger, historyDays: config.queueHistoryDays, logger: logger),
            ReplayWorker(
                replayer: replayer,
                limits: ReplayLimits(concurrency: config.replayConcurrency, perAccount: config.replayPerAccount),
                pollInterval: .seconds(1),
                liveLoad: { traffic.load() },
                refreshAccounts: { [directory] in try await directory.refresh() },
                logger: logger
            ),
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
            await storage.close()
            throw error
        }
        try await http.shutdown()
        await storage.close()
        logger.info("stopped")
    }
}
