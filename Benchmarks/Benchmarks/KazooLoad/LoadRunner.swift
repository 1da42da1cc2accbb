import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Sends the plan's calls at their times (open loop: a slow answer never delays the next call), each store
/// followed by its fetch when the plan asks for one, and records what came back.
struct LoadRunner: Sendable {
    let plan: [PlannedCall]
    let target: LoadTarget
    let client: HTTPClient
    let recorder: Recorder
    let gatewayPid: Int32?
    /// No stores: fetch every recording of the plan, 16 at a time (a run that stored them, same options and seed).
    var verifyOnly = false
    /// How long one request may take, head to last byte.
    var requestTimeout: TimeAmount = .minutes(15)

    /// Runs the plan; returns the process samples (one a second) and the seconds from the start until the
    /// last answer.
    func run() async -> (samples: [ProcessSample], seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let seconds: @Sendable () -> Double = { (clock.now - start).seconds }
        let sampler = Sampler()
        await withTaskGroup(of: Void.self) { group in
            if let pid = gatewayPid {
                group.addTask {
                    while !sampler.finished.load(ordering: .relaxed) {
                        if let sample = ProcessSample.read(pid: pid, at: seconds()) { sampler.samples.withLock { $0.append(sample) } }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
            await withTaskGroup(of: Void.self) { calls in
                if verifyOnly {
                    // Not on the schedule: every recording at once, 16 at a time.
                    for (index, call) in plan.enumerated() {
                        if index >= 16 { await calls.next() }
                        calls.addTask { await self.fetch(call, due: clock.now, clock: clock, start: start) }
                    }
                    return
                }
                for call in plan {
                    let due = start + .nanoseconds(Int64(call.at * 1e9))
                    try? await clock.sleep(until: due)
                    calls.addTask { await self.perform(call, due: due, clock: clock, start: start) }
                }
            }
            sampler.finished.store(true, ordering: .relaxed)
            if let pid = gatewayPid, let last = ProcessSample.read(pid: pid, at: seconds()) {
                sampler.samples.withLock { $0.append(last) }
            }
        }
        return (sampler.samples.withLock { $0 }, seconds())
    }

    private final class Sampler: Sendable {
        let samples = Mutex<[ProcessSample]>([])
        let finished = Atomic<Bool>(false)
    }

    private func perform(_ call: PlannedCall, due: ContinuousClock.Instant, clock: ContinuousClock, start: ContinuousClock.Instant) async {
        guard await store(call, due: due, clock: clock, start: start), let after = call.fetchAfter else { return }
        let fetchDue = clock.now + .nanoseconds(Int64(after * 1e9))
        try? await clock.sleep(until: fetchDue)
        await fetch(call, due: fetchDue, clock: clock, start: start)
    }

    /// Whether the store was answered 2xx.
    private func store(_ call: PlannedCall, due: ContinuousClock.Instant, clock: ContinuousClock, start: ContinuousClock.Instant) async -> Bool {
        var answer = "connection_error"
        var ok = false
        var sent = 0
        do {
            let (request, length) = try target.store(call)
            sent = length
            let response = try await client.execute(request, timeout: requestTimeout)
            // Read the answer out so the connection goes back to the pool.
            for try await _ in response.body {}
            answer = Recorder.answerClass(response.status.code)
            ok = (200..<300).contains(response.status.code)
        } catch {
            recorder.error(.store, Self.describe(error))
        }
        recorder.store(
            answer: answer,
            ok: ok,
            microseconds: Self.micros(clock.now - due),
            at: (clock.now - start).seconds,
            fileBytes: call.audio.length,
            sentBytes: sent
        )
        return ok
    }

    private func fetch(_ call: PlannedCall, due: ContinuousClock.Instant, clock: ContinuousClock, start: ContinuousClock.Instant) async {
        var answer = "connection_error"
        var ok = false
        var mismatched = false
        var received = 0
        do {
            let response = try await client.execute(try target.fetch(call), timeout: requestTimeout)
            answer = Recorder.answerClass(response.status.code)
            if response.status.code == 200 {
                // Compared piece by piece against the recording made again from its seed.
                for try await piece in response.body {
                    let end = received + piece.readableBytes
                    if end > call.audio.length || !piece.readableBytesView.elementsEqual(call.audio.bytes(received..<end)) {
                        mismatched = true
                    }
                    received = end
                }
                mismatched = mismatched || received != call.audio.length
                ok = !mismatched
            } else {
                for try await _ in response.body {}
            }
        } catch {
            recorder.error(.fetch, Self.describe(error))
        }
        recorder.fetch(
            answer: answer,
            ok: ok,
            mismatched: mismatched,
            microseconds: Self.micros(clock.now - due),
            at: (clock.now - start).seconds,
            bytes: received
        )
    }

    private static func micros(_ duration: Duration) -> UInt64 { UInt64(max(0, duration.seconds * 1e6)) }

    /// An error's kind, without the request's URL (it carries the client token or a presigned signature).
    static func describe(_ error: any Error) -> String {
        if let client = error as? HTTPClientError { return "HTTPClientError \(client.shortDescription)" }
        return String(describing: type(of: error))
    }
}

extension HTTPClientError {
    /// AsyncHTTPClient's own description, cut at the first parenthesis or colon (where details, such as a
    /// redirect's URL, would follow).
    var shortDescription: String {
        let text = String(describing: self)
        return String(text.prefix { $0 != "(" && $0 != ":" })
    }
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
