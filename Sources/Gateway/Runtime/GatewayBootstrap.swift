import AsyncHTTPClient
public import Foundation
public import Logging
public import S3
import Spool

/// Start-up, in order: open the storage, check the master key against its sealed secrets (a wrong key
/// is an error that changes nothing), open the spool, recover the ledger after an interrupted run, load
/// the accounts. `serve` opens everything (`open`); the command line opens only what a command needs.
public enum GatewayBootstrap {
    /// The storage `config` names (SQLite under `data_dir`, or PostgreSQL at `database_url` / `RG_DATABASE_URL`)
    /// and the master key that opens its secrets. With PostgreSQL the key is the cluster's: it must be given
    /// (`RG_MASTER_KEY` or `master_key_file`), never made up by one node, and a node with another key than the
    /// database's check value refuses to start, changing nothing.
    public static func openStorage(
        config: GatewayConfig,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger = Logger(label: "gateway")
    ) async throws -> (storage: any GatewayStorage, registry: AccountRegistry) {
        let storage: any GatewayStorage
        let shared: Bool
        if let url = try databaseURL(config: config, environment: environment) {
            storage = try await PostgresDatabase.open(url: url, nodeId: config.node, logger: logger)
            shared = true
        } else {
            storage = try SQLiteDatabase.open(dataDirectory: config.dataDir)
            shared = false
        }
        do {
            let keyFile = config.masterKeyFile ?? (config.dataDir as NSString).appendingPathComponent(MasterKey.fileName)
            if shared, (environment[MasterKey.environmentVariable] ?? "").isEmpty, !FileManager.default.fileExists(atPath: keyFile) {
                throw MasterKeyError(
                    "with database_url every gateway must use the cluster's one master key: set \(MasterKey.environmentVariable) or master_key_file (\(keyFile) does not exist); nothing was changed"
                )
            }
            let sealed = try await storage.holdsSealedSecrets()
            let masterKey = try MasterKey.load(
                dataDirectory: config.dataDir,
                file: config.masterKeyFile,
                environment: environment,
                mayCreate: !sealed && !shared
            )
            let registry = AccountRegistry(storage: storage, masterKey: masterKey)
            try await registry.checkMasterKey()
            return (storage, registry)
        } catch {
            await storage.close()
            throw error
        }
    }

    /// `RG_DATABASE_URL`, else `database_url`, parsed; nil for SQLite.
    static func databaseURL(config: GatewayConfig, environment: [String: String]) throws -> DatabaseURL? {
        guard let text = environment["RG_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 }) ?? config.databaseURL else { return nil }
        return try DatabaseURL(text)
    }

    /// The ledger over `storage` and the spool. The spool's owner (`serve`) takes the spool's lock and
    /// recovers from a crash (`RecordingLedger.recover`); the `queue` commands open it beside a running serve.
    public static func openLedger(
        config: GatewayConfig,
        storage: any GatewayStorage,
        registry: AccountRegistry,
        ownsSpool: Bool,
        memory: GatewayMemory? = nil,
        logger: Logger
    ) async throws -> RecordingLedger {
        let spool: Spool
        do {
            spool = try Spool(
                settings: config.spoolSettings,
                masterKey: registry.masterKey.key,
                exclusive: ownsSpool,
                directWrites: memory.map { DirectWrites.Settings(budget: $0.parts) },
                logger: logger
            )
        } catch let error as SpoolError {
            throw ConfigError(error.description)
        }
        let ledger = RecordingLedger(
            queue: storage,
            index: storage,
            spool: spool,
            locator: ObjectLocator(index: storage),
            replayBackoff: config.replayBackoff,
            logger: logger
        )
        if ownsSpool {
            let recovered = try await ledger.recover()
            if recovered.interrupted > 0 || recovered.unreferenced > 0 {
                logger.notice(
                    "recovered the spool after an interrupted run",
                    metadata: ["uploads_back_to_pending": "\(recovered.interrupted)", "unacknowledged_files_removed": "\(recovered.unreferenced)"]
                )
            }
        }
        return ledger
    }

    /// Everything `serve` runs (and the tests, and the commands that reach S3).
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
        let (storage, registry) = try await openStorage(config: config, environment: environment, logger: logger)
        let memory = GatewayMemory(config: config)
        let ledger = try await openLedger(config: config, storage: storage, registry: registry, ownsSpool: ownsSpool, memory: memory, logger: logger)

        let metrics = GatewayMetrics()
        var s3 = s3Configuration ?? S3ClientConfiguration()
        if s3Configuration == nil { s3.retry = config.retryPolicy }
        if let ca = config.s3CAFile { s3.trustedCertificateFiles = [ca] }
        s3.observer = metrics
        let http = S3Client.makeHTTPClient(configuration: s3)
        let directory = AccountDirectory(registry: registry, http: http, s3Configuration: s3, logger: logger)
        do {
            try await directory.refresh()
        } catch {
            try? await http.shutdown()
            throw error
        }
        return GatewayRuntime(
            config: config,
            storage: storage,
            accounts: registry,
            ledger: ledger,
            http: http,
            memory: memory,
            metrics: metrics,
            directory: directory,
            adminToken: environment["RG_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? config.adminToken,
            logger: logger
        )
    }
}
