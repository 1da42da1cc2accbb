import CoreMetrics
import Foundation
import Prometheus
public import S3
import Spool

/// The gateway's metrics (swift-metrics, rendered by swift-prometheus), served at `/metrics` on the
/// admin listener. Events are counted as they happen; the queue, spool, memory and circuit-breaker
/// gauges are read when scraped. Each runtime has its own registry (no process-wide bootstrap).
public final class GatewayMetrics: S3Observer {
    public enum StoreResult: String, Sendable, CaseIterable {
        /// 201: S3 confirmed it.
        case stored
        /// 202: S3 failed; it is safe in the spool and queued.
        case spooled
        /// 4xx: bad token, path, body, size.
        case refused
        /// 5xx: not acknowledged.
        case failed
    }

    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let stores: [StoreResult: CoreMetrics.Counter]
    /// Bytes S3 confirmed (live stores and replays).
    private let storedBytes: CoreMetrics.Counter
    private let storeDuration: CoreMetrics.Timer
    private let redirects: CoreMetrics.Counter
    private let proxied: CoreMetrics.Counter
    private let spoolFetches: CoreMetrics.Counter
    private let replayCounters: [String: CoreMetrics.Counter]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let seconds: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300].map { .milliseconds(Int64($0 * 1000)) }
        factory.durationHistogramBuckets = ["rg_store_duration_seconds": seconds, "rg_s3_operation_duration_seconds": seconds]
        self.factory = factory
        stores = Dictionary(
            uniqueKeysWithValues: StoreResult.allCases.map {
                ($0, CoreMetrics.Counter(label: "rg_stores_total", dimensions: [("result", $0.rawValue)], factory: factory))
            }
        )
        storedBytes = CoreMetrics.Counter(label: "rg_stored_bytes_total", factory: factory)
        storeDuration = CoreMetrics.Timer(label: "rg_store_duration_seconds", factory: factory)
        redirects = CoreMetrics.Counter(label: "rg_fetches_total", dimensions: [("answer", "redirect")], factory: factory)
        proxied = CoreMetrics.Counter(label: "rg_fetches_total", dimensions: [("answer", "proxied")], factory: factory)
        spoolFetches = CoreMetrics.Counter(label: "rg_fetches_total", dimensions: [("answer", "spool")], factory: factory)
        replayCounters = Dictionary(
            uniqueKeysWithValues: ["stored", "retry_later", "paused", "failed"].map {
                ($0, CoreMetrics.Counter(label: "rg_replays_total", dimensions: [("outcome", $0)], factory: factory))
            }
        )
    }

    // MARK: Events

    /// A request whose credentials named no account: answered 401, or 429 when its address is slowed.
    func authenticationFailed(throttled: Bool) {
        CoreMetrics.Counter(label: "rg_auth_failures_total", dimensions: [("answer", throttled ? "429" : "401")], factory: factory).increment()
    }

    func store(_ result: StoreResult, bytes: Int = 0, duration: Duration? = nil) {
        stores[result]?.increment()
        if bytes > 0 { storedBytes.increment(by: bytes) }
        if let duration {
            storeDuration.recordNanoseconds(Self.nanoseconds(duration))
        }
    }

    /// Every S3 operation (UploadPart is the part latency), and each one that ended in an error by code.
    public func operationFinished(_ operation: String, duration: Duration, error: S3Error?) {
        CoreMetrics.Timer(label: "rg_s3_operation_duration_seconds", dimensions: [("operation", operation)], factory: factory)
            .recordNanoseconds(Self.nanoseconds(duration))
        if let error {
            CoreMetrics.Counter(label: "rg_s3_errors_total", dimensions: [("code", error.code), ("operation", operation)], factory: factory)
                .increment()
        }
    }

    public func retrying(_ operation: String, code: String) {
        CoreMetrics.Counter(label: "rg_s3_retries_total", dimensions: [("code", code), ("operation", operation)], factory: factory).increment()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// A store stopped by a limit: `admission_timeout` (503) or `body_idle` (408).
    func storeLimited(_ limit: String) {
        CoreMetrics.Counter(label: "rg_store_limits_total", dimensions: [("limit", limit)], factory: factory).increment()
    }

    func redirected() { redirects.increment() }
    func proxiedFetch() { proxied.increment() }
    func spoolFetch() { spoolFetches.increment() }

    /// A replay's outcome; a stored one adds its bytes to the bytes stored.
    func replayed(_ outcome: Replayer.Outcome, bytes: Int) {
        if bytes > 0 { storedBytes.increment(by: bytes) }
        let name: String
        switch outcome {
        case .stored: name = "stored"
        case .retryLater: name = "retry_later"
        case .paused: name = "paused"
        case .failed: name = "failed"
        }
        replayCounters[name]?.increment()
    }

    // MARK: Scrape

    /// The Prometheus text exposition, after reading the gauges.
    func render(queue snapshot: QueueSnapshot, spool spoolStatus: Spool.Status, memory: GatewayMemory, accountIds: [String]) -> String {
        for state in QueuedUpload.State.allCases {
            CoreMetrics.Gauge(label: "rg_queue_uploads", dimensions: [("state", state.rawValue)], factory: factory).record(
                snapshot.counts[state] ?? 0
            )
        }
        CoreMetrics.Gauge(label: "rg_queue_oldest_pending_age_seconds", factory: factory).record(snapshot.oldestPendingAge ?? 0)
        CoreMetrics.Gauge(label: "rg_queue_depth", factory: factory).record(snapshot.depth)
        CoreMetrics.Gauge(label: "rg_replays_per_second", factory: factory).record(snapshot.replaysPerSecond)
        // NaN: rows wait but none landed lately, so there is no estimate.
        CoreMetrics.Gauge(label: "rg_queue_drain_seconds_estimate", factory: factory).record(snapshot.estimatedDrainSeconds ?? .nan)
        CoreMetrics.Gauge(label: "rg_spool_bytes", factory: factory).record(spoolStatus.usedBytes)
        CoreMetrics.Gauge(label: "rg_spool_free_bytes", factory: factory).record(spoolStatus.freeBytes)
        CoreMetrics.Gauge(label: "rg_memory_budget_in_use_bytes", factory: factory).record(memory.inUse)
        CoreMetrics.Gauge(label: "rg_memory_budget_capacity_bytes", factory: factory).record(memory.capacity)
        CoreMetrics.Gauge(label: "rg_memory_budget_spare_bytes", factory: factory).record(memory.parts.spareBytes)
        CoreMetrics.Gauge(label: "rg_stores_in_progress", factory: factory).record(memory.storeSlots.inUse)
        CoreMetrics.Gauge(label: "rg_stores_max_concurrent", factory: factory).record(memory.storeSlots.capacity)
        CoreMetrics.Gauge(label: "rg_connections_open", factory: factory).record(memory.connections.openConnections)
        CoreMetrics.Gauge(label: "rg_connections_max", factory: factory).record(memory.connections.limit)
        CoreMetrics.Gauge(label: "rg_connections_flowing", factory: factory).record(memory.flowingReads.inUse / GatewayConfig.flowingReadBytes)
        if let bytes = SQLiteDatabase.heapBytes { CoreMetrics.Gauge(label: "rg_sqlite_memory_bytes", factory: factory).record(bytes) }
        let paused = snapshot.paused
        for accountId in Set(accountIds).union(paused) {
            CoreMetrics.Gauge(label: "rg_account_replays_paused", dimensions: [("account_id", accountId)], factory: factory)
                .record(paused.contains(accountId) ? 1 : 0)
        }
        return registry.emitToString()
    }
}

extension GatewayMetrics: ReplayObserver {}
