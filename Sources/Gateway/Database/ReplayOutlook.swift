public import Foundation

/// An account whose replays are paused (the circuit breaker is open): S3 refused its credentials or bucket.
/// Its rows wait; one of them is tried at `nextProbeAt` (a probe), and the wait between probes grows
/// with `probes` like a row's backoff.
public struct AccountPause: Sendable, Hashable {
    /// Why, as S3 said it (never a secret); the first reason stays while paused.
    public var reason: String
    public var pausedAt: Date
    /// Probes that failed since the pause began.
    public var probes: Int
    /// When a row of the account may be tried again.
    public var nextProbeAt: Date

    public init(reason: String, pausedAt: Date, probes: Int, nextProbeAt: Date) {
        self.reason = reason
        self.pausedAt = pausedAt
        self.probes = probes
        self.nextProbeAt = nextProbeAt
    }
}

/// What the replay scheduler needs to know of the queue, read at once: which accounts have rows due
/// now (and how many), when the next row that is not due yet becomes due, and the paused accounts.
public struct ReplayOutlook: Sendable, Hashable {
    /// Due pending rows by account (accounts with none are absent; paused accounts included).
    public var due: [String: Int]
    /// The earliest `nextAttemptAt` of pending rows not yet due; nil when there is none.
    public var nextDueAt: Date?
    public var paused: [String: AccountPause]

    public init(due: [String: Int], nextDueAt: Date?, paused: [String: AccountPause]) {
        self.due = due
        self.nextDueAt = nextDueAt
        self.paused = paused
    }
}
