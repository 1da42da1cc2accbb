import Histogram
import Synchronization

/// What the run saw, kept as it happens: latency histograms for the whole run and per time window, answers
/// by status, bytes, mismatches. Latencies are taken from the moment a request was *due* (the open-loop
/// schedule), not from when it was sent, so a gateway that falls behind cannot hide its queue (coordinated
/// omission corrected for the open-loop rate).
final class Recorder: Sendable {
    enum Kind: Sendable { case store, fetch }

    struct Window: Sendable {
        var stores = 0
        var fetches = 0
        var failures = 0
        var bytes = 0
        var storeLatency = Histogram<UInt64>(highestTrackableValue: Recorder.highest, numberOfSignificantValueDigits: .two)
    }

    struct State: Sendable {
        var storeLatency = Histogram<UInt64>(highestTrackableValue: Recorder.highest, numberOfSignificantValueDigits: .three)
        var fetchLatency = Histogram<UInt64>(highestTrackableValue: Recorder.highest, numberOfSignificantValueDigits: .three)
        var storeAnswers: [String: Int] = [:]
        var fetchAnswers: [String: Int] = [:]
        var storesOK = 0
        var storesFailed = 0
        var fetchesOK = 0
        var fetchesFailed = 0
        var mismatched = 0
        var bytesStored = 0
        var bytesSent = 0
        var bytesFetched = 0
        var windows: [Window] = []
        var errors: [String: Int] = [:]
    }

    /// Latencies in microseconds, up to ten hours.
    static let highest: UInt64 = 36_000_000_000

    let windowSeconds: Double
    private let state = Mutex(State())

    init(windowSeconds: Double) { self.windowSeconds = windowSeconds }

    var snapshot: State { state.withLock { $0 } }

    /// A finished store: its answer's class, its latency from when it was due, when it ended (run seconds).
    func store(answer: String, ok: Bool, microseconds: UInt64, at seconds: Double, fileBytes: Int, sentBytes: Int) {
        state.withLock { state in
            state.storeAnswers[answer, default: 0] += 1
            let index = window(at: seconds, in: &state)
            if ok {
                state.storesOK += 1
                state.bytesStored += fileBytes
                state.bytesSent += sentBytes
                _ = state.storeLatency.record(min(microseconds, Self.highest))
                _ = state.windows[index].storeLatency.record(min(microseconds, Self.highest))
                state.windows[index].stores += 1
                state.windows[index].bytes += sentBytes
            } else {
                state.storesFailed += 1
                state.windows[index].failures += 1
            }
        }
    }

    func fetch(answer: String, ok: Bool, mismatched: Bool, microseconds: UInt64, at seconds: Double, bytes: Int) {
        state.withLock { state in
            state.fetchAnswers[answer, default: 0] += 1
            let index = window(at: seconds, in: &state)
            if mismatched { state.mismatched += 1 }
            if ok {
                state.fetchesOK += 1
                state.bytesFetched += bytes
                _ = state.fetchLatency.record(min(microseconds, Self.highest))
                state.windows[index].fetches += 1
            } else {
                state.fetchesFailed += 1
                state.windows[index].failures += 1
            }
        }
    }

    /// A connection error or other failure, counted by its description (never a URL: they carry tokens).
    func error(_ kind: Kind, _ description: String) {
        state.withLock { $0.errors["\(kind == .store ? "store" : "fetch"): \(description)", default: 0] += 1 }
    }

    private func window(at seconds: Double, in state: inout State) -> Int {
        let index = max(0, Int(seconds / windowSeconds))
        while state.windows.count <= index { state.windows.append(Window()) }
        return index
    }

    /// The answer class a report counts: 201, 202, 200, other 2xx, 3xx, 4xx, 5xx.
    static func answerClass(_ status: UInt) -> String {
        switch status {
        case 200, 201, 202: return String(status)
        case 203..<300: return "2xx"
        case 300..<400: return "3xx"
        case 400..<500: return "4xx"
        default: return "5xx"
        }
    }
}
