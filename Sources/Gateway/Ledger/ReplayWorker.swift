import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The service that drains the upload queue as fast as S3 takes it: up to `limits.concurrency` replays
/// run at once (fewer while live stores run: `ReplayLimits`), and the next due rows are claimed, in one
/// transaction, as soon as one ends. Which rows go is `ReplayRotation`'s turn (fair between accounts). The
/// poll only finds rows that become due later: the worker sleeps until the next row is due (at most
/// `pollInterval`) unless a replay ends or rows become due at once (`RecordingLedger.replaysDue`).
/// On graceful shutdown it stops claiming; replays in flight finish or, when the drain time runs out,
/// are cancelled and their rows go back to `pending`.
struct ReplayWorker: Service {
    let ledger: RecordingLedger
    let replay: @Sendable (QueuedUpload) async -> Replayer.Outcome
    let limits: ReplayLimits
    let pollInterval: Duration
    /// Live stores (and streamed fetches) running now: replays leave them room.
    let liveLoad: @Sendable () -> Int
    /// Loads account changes before rows are claimed, so a fixed account's rows go out with what it is now.
    let refreshAccounts: @Sendable () async throws -> Void
    let logger: Logger

    init(
        replayer: Replayer,
        limits: ReplayLimits,
        pollInterval: Duration,
        liveLoad: @escaping @Sendable () -> Int,
        refreshAccounts: @escaping @Sendable () async throws -> Void,
        logger: Logger
    ) {
        self.ledger = replayer.ledger
        self.replay = { entry in await replayer.replay(entry) }
        self.limits = limits
        self.pollInterval = pollInterval
        self.liveLoad = liveLoad
        self.refreshAccounts = refreshAccounts
        self.logger = logger
    }

    func run() async throws {
        let running = RunningReplays()
        var rotation = ReplayRotation(perAccount: limits.perAccount)
        var outlook: ReplayOutlook?
        var outlookAge = ContinuousClock.now
        let wakeup = ledger.replaysDue
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                var sleep = pollInterval
                let free = limits.allowed(liveLoad: liveLoad()) - running.total
                if free > 0 {
                    do {
                        // A cached outlook serves while it is young; one that offers nothing is read again once.
                        var fresh = false
                        // A replay that paused its account changed what may be claimed: read the queue again.
                        if outlook == nil || running.takePaused() || ContinuousClock.now - outlookAge >= pollInterval {
                            outlook = try await ledger.replayOutlook()
                            outlookAge = .now
                            fresh = true
                        }
                        var view = outlook ?? ReplayOutlook(due: [:], nextDueAt: nil, paused: [:])
                        let now = ledger.now()
                        var shares = rotation.shares(free: free, due: view.due, running: running.byAccount, paused: view.paused, now: now)
                        if shares.isEmpty && !fresh {
                            view = try await ledger.replayOutlook()
                            outlook = view
                            outlookAge = .now
                            shares = rotation.shares(free: free, due: view.due, running: running.byAccount, paused: view.paused, now: now)
                        }
                        if !shares.isEmpty {
                            try await refreshAccounts()
                            let claimed = try await ledger.claimDue(shares)
                            for (accountId, share) in shares {
                                let taken = claimed.count { $0.accountId == accountId }
                                // Fewer than asked: the account has no more due rows (another node took them, say).
                                view.due[accountId] = taken < share ? 0 : max(0, view.due[accountId, default: 0] - taken)
                                // A probe's outcome sets the next one: not before the queue is read again.
                                view.paused[accountId]?.nextProbeAt = .distantFuture
                            }
                            outlook = view
                            for entry in claimed {
                                running.start(entry.accountId)
                                group.addTask {
                                    let outcome = await replay(entry)
                                    running.finish(entry.accountId, paused: { if case .paused = outcome { true } else { false } }())
                                    wakeup.signal()
                                }
                            }
                            if !claimed.isEmpty { continue }
                        }
                        sleep = Self.sleep(until: view, running: running.byAccount, now: now, atMost: pollInterval)
                    } catch {
                        logger.error("the upload queue cannot be read: \(error)")
                    }
                }
                await withGracefulShutdownHandler {
                    await wakeup.wait(upTo: sleep)
                } onGracefulShutdown: {
                    wakeup.signal()
                }
            }
        }
    }

    /// How long to sleep when nothing can be claimed: until the next row or probe is due, at most `limit`
    /// (a replay that ends wakes the worker sooner).
    static func sleep(until outlook: ReplayOutlook, running: [String: Int], now: Date, atMost limit: Duration) -> Duration {
        let probes = outlook.paused.filter { outlook.due[$0.key, default: 0] > 0 && running[$0.key] == nil }.map(\.value.nextProbeAt)
        guard let next = ([outlook.nextDueAt].compactMap { $0 } + probes).min() else { return limit }
        let seconds = max(0.01, next.timeIntervalSince(now))
        return min(limit, .milliseconds(Int64((seconds * 1000).rounded(.up))))
    }
}

/// How many replays may run: `concurrency` while no live store runs (nor ran within the last second); with
/// live stores, what they leave of the processors (a replay costs a core about as a live store does), and
/// always at least one, so a backlog drains under any load. Measured on 2 cores: four live stores beside
/// four replays took 2.7 times as long at p99 as alone; beside one, see the README.
struct ReplayLimits: Sendable, Hashable {
    let concurrency: Int
    let perAccount: Int
    var processors = ProcessInfo.processInfo.activeProcessorCount

    func allowed(liveLoad: Int) -> Int {
        liveLoad == 0 ? concurrency : max(1, min(concurrency, processors) - liveLoad)
    }
}

/// Replays running now, by account, and whether one that ended paused its account.
private final class RunningReplays: Sendable {
    private let state = NIOLockedValueBox<(byAccount: [String: Int], paused: Bool)>(([:], false))

    var byAccount: [String: Int] { state.withLockedValue { $0.byAccount } }
    var total: Int { state.withLockedValue { $0.byAccount.values.reduce(0, +) } }

    func start(_ accountId: String) { state.withLockedValue { $0.byAccount[accountId, default: 0] += 1 } }

    func finish(_ accountId: String, paused: Bool) {
        state.withLockedValue { state in
            state.byAccount[accountId, default: 1] -= 1
            if state.byAccount[accountId] == 0 { state.byAccount[accountId] = nil }
            state.paused = state.paused || paused
        }
    }

    /// Whether a replay paused its account since the last call.
    func takePaused() -> Bool {
        state.withLockedValue { state in
            defer { state.paused = false }
            return state.paused
        }
    }
}
