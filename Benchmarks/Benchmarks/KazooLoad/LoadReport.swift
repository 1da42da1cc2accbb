import Foundation
import Histogram

/// A run's figures, as JSON (`--json`) and as the HTML report's data. Field names are the ones an operator's
/// tooling reads (`stores.ok`, `stores.latency_ms.p99`, `rss_mib.peak`...); Benchmarks/README.md explains each.
struct LoadReport: Codable, Sendable {
    struct Latency: Codable, Sendable {
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var max: Double
        var mean: Double

        init(_ histogram: Histogram<UInt64>) {
            let ms = { (value: UInt64) in (Double(value) / 1000 * 10).rounded() / 10 }
            p50 = ms(histogram.valueAtPercentile(50))
            p90 = ms(histogram.valueAtPercentile(90))
            p99 = ms(histogram.valueAtPercentile(99))
            p999 = ms(histogram.valueAtPercentile(99.9))
            max = ms(histogram.totalCount == 0 ? 0 : histogram.max)
            mean = (histogram.mean / 1000 * 10).rounded() / 10
        }
    }

    struct Requests: Codable, Sendable {
        var attempted: Int
        var ok: Int
        var failed: Int
        var perSecond: Double
        /// By answer: "201", "202", "200", "4xx", "5xx", "connection_error"...
        var answers: [String: Int]
        var latencyMs: Latency
        var mismatched: Int?
    }

    struct Memory: Codable, Sendable {
        var start: Double
        /// The highest resident memory during this run.
        var peak: Double
        var end: Double
        /// VmHWM at the end: the process's peak since it started (earlier runs against it included).
        var hwm: Double
    }

    /// One point of the charts: a window of `window_seconds`.
    struct Point: Codable, Sendable {
        var t: Double
        var storesPerSecond: Double
        var fetchesPerSecond: Double
        var failures: Int
        var mibPerSecond: Double
        var storeP50Ms: Double?
        var storeP90Ms: Double?
        var storeP99Ms: Double?
        var storeMaxMs: Double?
    }

    var label: String
    var mode: String
    var started: String
    var durationSeconds: Double
    /// Seconds from the start until the last answer (longer than the duration by the last calls' stores).
    var elapsedSeconds: Double
    var callsPerSecond: Double
    var options: [String: String]
    var stores: Requests
    var fetches: Requests
    /// The recordings' own bytes that were stored (2xx); `bytes_sent` counts the request bodies.
    var bytesStored: Int
    var bytesSent: Int
    var bytesFetched: Int
    var mibPerSecond: Double
    var rssMib: Memory?
    var cpuSeconds: Double?
    /// The gateway's CPU over the elapsed time, in cores (1.0 = one core busy).
    var cpuCores: Double?
    var errors: [String: Int]
    var windowSeconds: Double
    var series: [Point]
    var process: [ProcessSample]

    init(
        label: String,
        target: LoadTarget,
        options: CallPlan.Options,
        settings: [String: String],
        planned: Int,
        recorder: Recorder,
        samples: [ProcessSample],
        elapsed: Double,
        started: Date
    ) {
        let state = recorder.snapshot
        let duration = options.durationSeconds
        self.label = label
        mode = target.mode
        self.started = ISO8601DateFormatter().string(from: started)
        durationSeconds = duration
        elapsedSeconds = (elapsed * 10).rounded() / 10
        callsPerSecond = options.callsPerSecond
        self.options = settings
        let rate = { (count: Int) in (Double(count) / max(elapsed, 0.001) * 100).rounded() / 100 }
        stores = Requests(
            attempted: planned,
            ok: state.storesOK,
            failed: state.storesFailed,
            perSecond: rate(state.storesOK),
            answers: state.storeAnswers,
            latencyMs: Latency(state.storeLatency)
        )
        fetches = Requests(
            attempted: state.fetchesOK + state.fetchesFailed,
            ok: state.fetchesOK,
            failed: state.fetchesFailed,
            perSecond: rate(state.fetchesOK),
            answers: state.fetchAnswers,
            latencyMs: Latency(state.fetchLatency),
            mismatched: state.mismatched
        )
        bytesStored = state.bytesStored
        bytesSent = state.bytesSent
        bytesFetched = state.bytesFetched
        mibPerSecond = (Double(state.bytesSent) / 1_048_576 / max(elapsed, 0.001) * 100).rounded() / 100
        if let first = samples.first, let last = samples.last {
            // VmHWM is the process's peak since it started: this run's own when it rose during the run, else the
            // highest VmRSS sampled (once a second) is the run's peak.
            let peak = last.peakMib > first.peakMib ? last.peakMib : samples.map(\.rssMib).max() ?? 0
            rssMib = Memory(start: first.rssMib.rounded(), peak: peak.rounded(), end: last.rssMib.rounded(), hwm: last.peakMib.rounded())
            let cpu = last.cpuSeconds - first.cpuSeconds
            cpuSeconds = (cpu * 100).rounded() / 100
            cpuCores = (cpu / max(last.seconds - first.seconds, 0.001) * 100).rounded() / 100
        }
        errors = state.errors
        windowSeconds = recorder.windowSeconds
        let ms = { (value: UInt64) in (Double(value) / 1000).rounded() }
        series = state.windows.enumerated().map { index, window in
            let w = recorder.windowSeconds
            let has = window.storeLatency.totalCount > 0
            return Point(
                t: Double(index) * w,
                storesPerSecond: Double(window.stores) / w,
                fetchesPerSecond: Double(window.fetches) / w,
                failures: window.failures,
                mibPerSecond: (Double(window.bytes) / 1_048_576 / w * 100).rounded() / 100,
                storeP50Ms: has ? ms(window.storeLatency.valueAtPercentile(50)) : nil,
                storeP90Ms: has ? ms(window.storeLatency.valueAtPercentile(90)) : nil,
                storeP99Ms: has ? ms(window.storeLatency.valueAtPercentile(99)) : nil,
                storeMaxMs: has ? ms(window.storeLatency.max) : nil
            )
        }
        process = samples
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The lines printed at the end of a run.
    var summary: String {
        func line(_ name: String, _ r: Requests) -> String {
            let l = r.latencyMs
            return String(
                format: "%@ %d ok, %d failed (%.1f/s)  latency ms p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  answers %@",
                name,
                r.ok,
                r.failed,
                r.perSecond,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                r.answers.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            )
        }
        var text = "\(label) (\(mode), \(callsPerSecond) calls/s for \(durationSeconds) s, elapsed \(elapsedSeconds) s)\n"
        text += line("stores ", stores) + "\n" + line("fetches", fetches) + ", mismatched \(fetches.mismatched ?? 0)\n"
        text += String(format: "bytes stored %.1f MiB, %.2f MiB/s sent", Double(bytesStored) / 1_048_576, mibPerSecond)
        if let rss = rssMib, let cpu = cpuSeconds, let cores = cpuCores {
            text += String(
                format: "\ngateway RSS MiB start %.0f, peak %.0f, end %.0f; CPU %.2f s (%.2f cores)",
                rss.start,
                rss.peak,
                rss.end,
                cpu,
                cores
            )
        }
        if !errors.isEmpty { text += "\nerrors: " + errors.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") }
        return text
    }
}
