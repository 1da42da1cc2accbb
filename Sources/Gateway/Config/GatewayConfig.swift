public import Foundation
public import S3
public import Spool

/// The gateway's configuration file (`config.example.json` holds every key with its default; the
/// README's table says what each means). Keys are snake_case; a missing key takes its default and an
/// unknown key is an error, so a typo cannot silently fall back to a default.
public struct GatewayConfig: Sendable, Equatable, Codable {
    /// `HOST:PORT` the KAZOO-facing HTTP server listens on.
    public var listen: String = "0.0.0.0:8080"
    /// The URL KAZOO reaches the gateway at; printed storage URLs start with it.
    public var publicBaseURL: String = "http://recordings.example.com:8080"
    /// Where the SQLite database, the spool and the master key live.
    public var dataDir: String = "./data"
    /// PostgreSQL shared by several gateways (`RG_DATABASE_URL` wins); nil: SQLite under `data_dir`.
    public var databaseURL: String? = nil
    /// This gateway among several: recorded with each spooled row; nil: the host name.
    public var nodeId: String? = nil
    /// The master key file; nil: `DATA_DIR/master.key` (created on first start, unless `database_url` is set).
    public var masterKeyFile: String? = nil
    /// PEM certificate chain; with `tlsKeyFile`, the server speaks https (TLS 1.2 or later).
    public var tlsCertificateFile: String? = nil
    /// PEM private key for `tlsCertificateFile`.
    public var tlsKeyFile: String? = nil
    /// PEM certificates trusted for S3 endpoints besides the system's (a private CA of an S3-compatible store).
    public var s3CAFile: String? = nil
    /// Bytes buffered for all uploads together.
    public var memoryBudgetBytes: Int = 256 * 1024 * 1024
    /// Multipart part size (at least 5 MiB).
    public var partSizeBytes: Int = 8 * 1024 * 1024
    /// Parts in flight per upload.
    public var parallelParts: Int = 4
    /// Stores that read their bodies at once; nil: what a quarter of the budget holds at
    /// `reservedBytesPerStore` each. The memory they may hold on the way in is set aside from the budget.
    public var maxConcurrentStores: Int? = nil
    /// KAZOO connections open at once; nil: what a quarter of the budget holds at `reservedBytesPerConnection`
    /// each. Beyond it the listener stops accepting until connections close.
    public var maxConnections: Int? = nil
    /// A store that cannot be admitted (no slot, no memory) in this time is answered 503 with Retry-After.
    public var admissionTimeoutSeconds: Int = 30
    /// A body that sends nothing for this long, while the gateway waits for it, is dropped (408, nothing stored).
    public var bodyIdleTimeoutSeconds: Int = 60
    /// The largest request body accepted (413 above it).
    public var maxRequestBytes: Int = 5 * 1024 * 1024 * 1024
    /// Lifetime of presigned GET URLs unless an account sets its own (1...604800).
    public var presignExpirySeconds: Int = 300
    /// Attempts per S3 request, the first included.
    public var s3RetryMaxAttempts: Int = 5
    /// First backoff ceiling; it doubles per retry up to `s3RetryMaxDelayMilliseconds` (full jitter).
    public var s3RetryBaseDelayMilliseconds: Int = 100
    public var s3RetryMaxDelayMilliseconds: Int = 20_000
    /// How long a SIGTERM waits for in-flight requests before cancelling them.
    public var shutdownDrainSeconds: Int = 300
    /// Write each store ahead to the encrypted spool, so an S3 failure is answered 202 and replayed.
    public var spoolEnabled: Bool = true
    /// Where spool files go; default `DATA_DIR/spool`.
    public var spoolDir: String? = nil
    /// Stores are not spooled while the spool's filesystem has less free space than this.
    public var spoolMinFreeBytes: Int = 512 * 1024 * 1024
    /// The most all spool files together may hold; 0 means no limit but the free space.
    public var spoolQuotaBytes: Int = 0
    /// Queued uploads replayed at a time (fewer while live stores run: they come first).
    public var replayConcurrency: Int = 8
    /// Replays of one account at a time; nil: half of `replayConcurrency` (at least 1).
    public var replayConcurrencyPerAccount: Int? = nil
    /// First backoff ceiling of a queued upload; doubles per attempt up to `replayMaxDelaySeconds` (full jitter).
    public var replayBaseDelaySeconds: Double = 5
    public var replayMaxDelaySeconds: Double = 3600
    /// Queue rows of recordings S3 took from the spool are kept this many days (`queue list`), then deleted.
    public var queueHistoryDays: Int = 30
    /// `HOST:PORT` of the admin listener (`/metrics`, the admin API); keep it on loopback or a private network.
    public var adminListen: String = "127.0.0.1:8081"
    /// Bearer token for the admin API (`RG_ADMIN_TOKEN` in the environment takes precedence); none: the API is closed.
    public var adminToken: String? = nil
    /// `text` or `json`.
    public var logFormat: String = "text"
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
    public var logLevel: String = "info"

    /// How often an address that keeps guessing tokens earns one more try (`GuessingGuard`); not in the file:
    /// tests set it.
    var guessingRefill: Duration = .seconds(6)

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case listen
        case publicBaseURL = "public_base_url"
        case dataDir = "data_dir"
        case databaseURL = "database_url"
        case nodeId = "node_id"
        case masterKeyFile = "master_key_file"
        case tlsCertificateFile = "tls_certificate_file"
        case tlsKeyFile = "tls_key_file"
        case s3CAFile = "s3_ca_file"
        case memoryBudgetBytes = "memory_budget_bytes"
        case partSizeBytes = "part_size_bytes"
        case parallelParts = "parallel_parts"
        case maxConcurrentStores = "max_concurrent_stores"
        case maxConnections = "max_connections"
        case admissionTimeoutSeconds = "admission_timeout_seconds"
        case bodyIdleTimeoutSeconds = "body_idle_timeout_seconds"
        case maxRequestBytes = "max_request_bytes"
        case presignExpirySeconds = "presign_expiry_seconds"
        case s3RetryMaxAttempts = "s3_retry_max_attempts"
        case s3RetryBaseDelayMilliseconds = "s3_retry_base_delay_ms"
        case s3RetryMaxDelayMilliseconds = "s3_retry_max_delay_ms"
        case shutdownDrainSeconds = "shutdown_drain_seconds"
        case spoolEnabled = "spool_enabled"
        case spoolDir = "spool_dir"
        case spoolMinFreeBytes = "spool_min_free_bytes"
        case spoolQuotaBytes = "spool_quota_bytes"
        case replayConcurrency = "replay_concurrency"
        case replayConcurrencyPerAccount = "replay_concurrency_per_account"
        case replayBaseDelaySeconds = "replay_base_delay_seconds"
        case replayMaxDelaySeconds = "replay_max_delay_seconds"
        case queueHistoryDays = "queue_history_days"
        case adminListen = "admin_listen"
        case adminToken = "admin_token"
        case logFormat = "log_format"
        case logLevel = "log_level"
    }

    public init(from decoder: any Decoder) throws {
        var config = GatewayConfig()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func read<Value: Decodable>(_ key: CodingKeys, into value: inout Value) throws {
            if let decoded = try container.decodeIfPresent(Value.self, forKey: key) { value = decoded }
        }
        try read(.listen, into: &config.listen)
        try read(.publicBaseURL, into: &config.publicBaseURL)
        try read(.dataDir, into: &config.dataDir)
        config.databaseURL = try container.decodeIfPresent(String.self, forKey: .databaseURL)
        config.nodeId = try container.decodeIfPresent(String.self, forKey: .nodeId)
        config.masterKeyFile = try container.decodeIfPresent(String.self, forKey: .masterKeyFile)
        config.tlsCertificateFile = try container.decodeIfPresent(String.self, forKey: .tlsCertificateFile)
        config.tlsKeyFile = try container.decodeIfPresent(String.self, forKey: .tlsKeyFile)
        config.s3CAFile = try container.decodeIfPresent(String.self, forKey: .s3CAFile)
        try read(.memoryBudgetBytes, into: &config.memoryBudgetBytes)
        try read(.partSizeBytes, into: &config.partSizeBytes)
        try read(.parallelParts, into: &config.parallelParts)
        config.maxConcurrentStores = try container.decodeIfPresent(Int.self, forKey: .maxConcurrentStores)
        config.maxConnections = try container.decodeIfPresent(Int.self, forKey: .maxConnections)
        try read(.admissionTimeoutSeconds, into: &config.admissionTimeoutSeconds)
        try read(.bodyIdleTimeoutSeconds, into: &config.bodyIdleTimeoutSeconds)
        try read(.maxRequestBytes, into: &config.maxRequestBytes)
        try read(.presignExpirySeconds, into: &config.presignExpirySeconds)
        try read(.s3RetryMaxAttempts, into: &config.s3RetryMaxAttempts)
        try read(.s3RetryBaseDelayMilliseconds, into: &config.s3RetryBaseDelayMilliseconds)
        try read(.s3RetryMaxDelayMilliseconds, into: &config.s3RetryMaxDelayMilliseconds)
        try read(.shutdownDrainSeconds, into: &config.shutdownDrainSeconds)
        try read(.spoolEnabled, into: &config.spoolEnabled)
        config.spoolDir = try container.decodeIfPresent(String.self, forKey: .spoolDir)
        try read(.spoolMinFreeBytes, into: &config.spoolMinFreeBytes)
        try read(.spoolQuotaBytes, into: &config.spoolQuotaBytes)
        try read(.replayConcurrency, into: &config.replayConcurrency)
        config.replayConcurrencyPerAccount = try container.decodeIfPresent(Int.self, forKey: .replayConcurrencyPerAccount)
        try read(.replayBaseDelaySeconds, into: &config.replayBaseDelaySeconds)
        try read(.replayMaxDelaySeconds, into: &config.replayMaxDelaySeconds)
        try read(.queueHistoryDays, into: &config.queueHistoryDays)
        try read(.adminListen, into: &config.adminListen)
        config.adminToken = try container.decodeIfPresent(String.self, forKey: .adminToken)
        try read(.logFormat, into: &config.logFormat)
        try read(.logLevel, into: &config.logLevel)
        self = config
    }

    /// Reads and validates a configuration file.
    public static func load(path: String) throws(ConfigError) -> GatewayConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError("configuration file \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("configuration file \(path) cannot be read (check its permissions)")
        }
        return try parse(data, path: path)
    }

    /// Parses and validates configuration JSON; `path` only names the source in errors.
    public static func parse(_ data: Data, path: String = "configuration") throws(ConfigError) -> GatewayConfig {
        let config: GatewayConfig
        do {
            let object = try JSONSerialization.jsonObject(with: data)
            guard let keys = (object as? [String: Any])?.keys else { throw ConfigError("\(path) must hold one JSON object") }
            let known = Set(CodingKeys.allCases.map(\.rawValue))
            if let unknown = keys.sorted().first(where: { !known.contains($0) }) {
                throw ConfigError("\(path): unknown key \"\(unknown)\" (the keys are listed in config.example.json)")
            }
            config = try JSONDecoder().decode(GatewayConfig.self, from: data)
        } catch let error as ConfigError {
            throw error
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError("\(path): \(key) has the wrong type (\(context.debugDescription))")
        } catch {
            throw ConfigError("\(path) is not valid JSON: \(error.localizedDescription)")
        }
        try config.validate()
        return config
    }

    /// What one store's connection may hold outside its part buffers, set aside from the budget per
    /// concurrent store: the flow-control window and the read in progress (`BodyFlowGate`, 64 KiB each), and
    /// 64 KiB for the bytes gathered before a part buffer is taken and the spool's record buffer. (A body that
    /// flows may take larger ones from the flowing reads' share: `flowingReadBytes`.)
    public static let reservedBytesPerStore = 192 * 1024

    /// `max_concurrent_stores`, or what a quarter of the budget holds.
    public var concurrentStores: Int { maxConcurrentStores ?? max(1, memoryBudgetBytes / 4 / Self.reservedBytesPerStore) }

    /// What one open connection holds whatever it sends (its NIO and HTTP state, the read that brought its
    /// head), set aside from the budget per connection: about 60 KiB measured with 1,024 connections.
    public static let reservedBytesPerConnection = 64 * 1024

    /// `max_connections`, or what a quarter of the budget holds.
    public var connections: Int { maxConnections ?? max(1, memoryBudgetBytes / 4 / Self.reservedBytesPerConnection) }

    /// What a connection whose body flowed holds for its larger window and reads, for as long as it is open
    /// (`BodyFlowGate`).
    public static let flowingReadBytes = 512 * 1024

    /// What is left once every connection's and every store's reservation is set aside.
    var restBytes: Int {
        memoryBudgetBytes - connections * Self.reservedBytesPerConnection - concurrentStores * Self.reservedBytesPerStore
    }

    /// The share of the rest that connections whose bodies flowed may hold for their larger reads: a quarter of
    /// what is left beyond one part buffer, in whole `flowingReadBytes`. Beyond it, bodies flow at the small reads.
    public var flowingReadBudgetBytes: Int {
        let spare = restBytes - MultipartUploader.bufferCharge(forPartSize: partSizeBytes)
        return max(0, spare / 4 / Self.flowingReadBytes * Self.flowingReadBytes)
    }

    /// The budget left for part buffers (live stores and replays): the rest, less the flowing reads' share.
    public var partBudgetBytes: Int { restBytes - flowingReadBudgetBytes }

    /// Refuses values the gateway cannot run with, naming the key.
    public func validate() throws(ConfigError) {
        try checkRanges()
        guard partSizeBytes >= 5 * 1024 * 1024 else {
            throw ConfigError("part_size_bytes must be at least 5 MiB (5242880): S3 refuses smaller parts")
        }
        guard parallelParts >= 1 else { throw ConfigError("parallel_parts must be at least 1") }
        let charge = MultipartUploader.bufferCharge(forPartSize: partSizeBytes)
        guard memoryBudgetBytes >= charge else {
            throw ConfigError("memory_budget_bytes must hold at least one part buffer (\(charge) bytes for part_size_bytes \(partSizeBytes))")
        }
        if let maxConcurrentStores, maxConcurrentStores < 1 { throw ConfigError("max_concurrent_stores must be at least 1 (or null)") }
        if let maxConnections, maxConnections < 1 { throw ConfigError("max_connections must be at least 1 (or null)") }
        guard restBytes >= charge else {
            throw ConfigError(
                "memory_budget_bytes (\(memoryBudgetBytes)) must hold max_connections (\(connections)) × \(Self.reservedBytesPerConnection) bytes, max_concurrent_stores (\(concurrentStores)) × \(Self.reservedBytesPerStore) bytes and one part buffer (\(charge) bytes): lower the two limits or raise the budget"
            )
        }
        guard admissionTimeoutSeconds >= 0 else { throw ConfigError("admission_timeout_seconds cannot be negative") }
        guard bodyIdleTimeoutSeconds >= 1 else { throw ConfigError("body_idle_timeout_seconds must be at least 1") }
        guard maxRequestBytes >= 1 else { throw ConfigError("max_request_bytes must be at least 1") }
        guard (1...604_800).contains(presignExpirySeconds) else {
            throw ConfigError("presign_expiry_seconds must be from 1 to 604800 (7 days), as S3 requires")
        }
        guard s3RetryMaxAttempts >= 1 else { throw ConfigError("s3_retry_max_attempts must be at least 1") }
        guard s3RetryBaseDelayMilliseconds >= 1, s3RetryMaxDelayMilliseconds >= s3RetryBaseDelayMilliseconds else {
            throw ConfigError("s3_retry_base_delay_ms must be at least 1 and s3_retry_max_delay_ms at least as large")
        }
        guard shutdownDrainSeconds >= 0 else { throw ConfigError("shutdown_drain_seconds cannot be negative") }
        guard spoolMinFreeBytes >= 0 else { throw ConfigError("spool_min_free_bytes cannot be negative") }
        guard spoolQuotaBytes >= 0 else { throw ConfigError("spool_quota_bytes cannot be negative (0 means no quota)") }
        if let databaseURL { _ = try DatabaseURL(databaseURL) }
        if let nodeId {
            guard !nodeId.isEmpty, nodeId.count <= 128, nodeId.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ConfigError("node_id must be 1-128 letters, digits, '-', '_' or '.'")
            }
        }
        guard replayConcurrency >= 1 else { throw ConfigError("replay_concurrency must be at least 1") }
        if let replayConcurrencyPerAccount, !(1...replayConcurrency).contains(replayConcurrencyPerAccount) {
            throw ConfigError("replay_concurrency_per_account must be from 1 to replay_concurrency (\(replayConcurrency)), or null")
        }
        guard replayBaseDelaySeconds > 0, replayMaxDelaySeconds >= replayBaseDelaySeconds else {
            throw ConfigError("replay_base_delay_seconds must be above 0 and replay_max_delay_seconds at least as large")
        }
        guard queueHistoryDays >= 1 else { throw ConfigError("queue_history_days must be at least 1") }
        guard ["text", "json"].contains(logFormat) else { throw ConfigError("log_format must be \"text\" or \"json\"") }
        guard LogSetup.level(logLevel) != nil else {
            throw ConfigError("log_level must be one of trace, debug, info, notice, warning, error, critical")
        }
        _ = try ListenAddress(listen)
        _ = try ListenAddress(adminListen)
        if let adminToken, adminToken.count < 16 {
            throw ConfigError("admin_token must be at least 16 characters (e.g. openssl rand -base64 32)")
        }
        guard let base = URL(string: publicBaseURL), ["http", "https"].contains(base.scheme ?? ""), base.host != nil,
            base.query == nil
        else {
            throw ConfigError("public_base_url must be an http:// or https:// URL without a query, e.g. https://recordings.example.com")
        }
        switch (tlsCertificateFile, tlsKeyFile) {
        case (nil, nil), (.some, .some): break
        default: throw ConfigError("tls_certificate_file and tls_key_file go together: give both for https, or neither")
        }
        if let s3CAFile {
            let pem = (try? String(contentsOfFile: s3CAFile, encoding: .utf8)) ?? ""
            guard pem.contains("-----BEGIN CERTIFICATE-----") else {
                throw ConfigError("s3_ca_file \(s3CAFile) must be a readable PEM file of certificates (-----BEGIN CERTIFICATE-----)")
            }
        }
    }

    /// Upper limits far above any real setting, so that the values derived from them (the budget's shares, the
    /// backoff in milliseconds) cannot overflow: a number too large is refused naming its key, not a crash.
    func checkRanges() throws(ConfigError) {
        let tebibyte = 1 << 40
        let counts: [(String, Int?, Int)] = [
            ("memory_budget_bytes", memoryBudgetBytes, tebibyte),
            ("part_size_bytes", partSizeBytes, 5 << 30),
            ("parallel_parts", parallelParts, 10_000),
            ("max_concurrent_stores", maxConcurrentStores, 1_000_000),
            ("max_connections", maxConnections, 1_000_000),
            ("admission_timeout_seconds", admissionTimeoutSeconds, 86_400),
            ("body_idle_timeout_seconds", bodyIdleTimeoutSeconds, 86_400),
            ("max_request_bytes", maxRequestBytes, 5 * tebibyte),
            ("s3_retry_max_attempts", s3RetryMaxAttempts, 100),
            ("s3_retry_base_delay_ms", s3RetryBaseDelayMilliseconds, 3_600_000),
            ("s3_retry_max_delay_ms", s3RetryMaxDelayMilliseconds, 3_600_000),
            ("shutdown_drain_seconds", shutdownDrainSeconds, 86_400),
            ("spool_min_free_bytes", spoolMinFreeBytes, 1 << 50),
            ("spool_quota_bytes", spoolQuotaBytes, 1 << 50),
            ("replay_concurrency", replayConcurrency, 10_000),
            ("replay_concurrency_per_account", replayConcurrencyPerAccount, 10_000),
            ("queue_history_days", queueHistoryDays, 36_500),
        ]
        for (key, value, limit) in counts {
            if let value, value > limit { throw ConfigError("\(key) must be at most \(limit)") }
        }
        for (key, value) in [("replay_base_delay_seconds", replayBaseDelaySeconds), ("replay_max_delay_seconds", replayMaxDelaySeconds)] {
            guard value.isFinite, value <= 604_800 else { throw ConfigError("\(key) must be at most 604800 (7 days)") }
        }
    }

    /// The spool's settings.
    public var spoolSettings: Spool.Settings {
        Spool.Settings(
            enabled: spoolEnabled,
            directory: spoolDir ?? (dataDir as NSString).appendingPathComponent("spool"),
            minimumFreeBytes: spoolMinFreeBytes,
            quotaBytes: spoolQuotaBytes
        )
    }

    /// This node's id: `node_id`, or the host name.
    public var node: String { nodeId ?? ProcessInfo.processInfo.hostName }

    /// Replays of one account at a time: `replayConcurrencyPerAccount`, or half of `replayConcurrency`.
    public var replayPerAccount: Int { replayConcurrencyPerAccount ?? max(1, replayConcurrency / 2) }

    /// Backoff between replays of a queued upload.
    public var replayBackoff: RetryPolicy {
        RetryPolicy(
            maxAttempts: Int.max,
            baseDelay: .milliseconds(Int64(replayBaseDelaySeconds * 1000)),
            maxDelay: .milliseconds(Int64(replayMaxDelaySeconds * 1000))
        )
    }

    /// The retry policy S3 clients use.
    public var retryPolicy: RetryPolicy {
        RetryPolicy(
            maxAttempts: s3RetryMaxAttempts,
            baseDelay: .milliseconds(s3RetryBaseDelayMilliseconds),
            maxDelay: .milliseconds(s3RetryMaxDelayMilliseconds)
        )
    }
}

/// A `HOST:PORT` to listen on.
public struct ListenAddress: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(_ text: String) throws(ConfigError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigError("listen address \"\(text)\" must be HOST:PORT, e.g. 0.0.0.0:8080")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigError("listen address \"\(text)\" has no host; use 0.0.0.0:\(port) for every interface") }
        self.host = host
        self.port = port
    }
}
