import Synchronization

/// Live stores and streamed fetches, from the moment they ask for a slot to the moment they give it back:
/// how many there are, and when the last one came or went. Replays leave the gateway to them (`ReplayLimits`).
final class LiveTraffic: Sendable {
    private let running = Atomic<Int>(0)
    /// `ContinuousClock` time of the last arrival or departure, in nanoseconds since `origin`.
    private let lastChange = Atomic<Int64>(0)
    private let origin = ContinuousClock.now

    func began() {
        running.add(1, ordering: .relaxed)
        touch()
    }

    func ended() {
        running.subtract(1, ordering: .relaxed)
        touch()
    }

    /// Live requests now; when none runs but one came or went within `recent`, 1: a gap between a client's
    /// stores is not a quiet moment.
    func load(recent: Duration = .seconds(1)) -> Int {
        let now = running.load(ordering: .relaxed)
        guard now == 0 else { return now }
        let elapsed = (ContinuousClock.now - origin) - .nanoseconds(lastChange.load(ordering: .relaxed))
        return lastChange.load(ordering: .relaxed) > 0 && elapsed < recent ? 1 : 0
    }

    private func touch() {
        let elapsed = (ContinuousClock.now - origin).components
        lastChange.store(max(1, elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000), ordering: .relaxed)
    }
}
