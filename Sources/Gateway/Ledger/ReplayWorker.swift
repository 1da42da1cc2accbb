import Logging
import ServiceLifecycle
import Synchronization

/// The service that drains the upload queue: every `pollInterval` it claims due rows of accounts that
/// are not paused, at most `concurrency` uploading at a time and one per account (fair between
/// accounts; a refused account costs one attempt), and replays them (`Replayer`).
/// On graceful shutdown it stops claiming; replays in flight finish or, when the drain time runs out,
/// are cancelled and their rows go back to `pending`.
struct ReplayWorker: Service {
    let replayer: Replayer
    let concurrency: Int
    let pollInterval: Duration
    /// What the poll waits on (tests give a clock of their own).
    var clock: any Clock<Duration> = ContinuousClock()
    let logger: Logger

    func run() async throws {
        let inFlight = InFlightCount()
        let ledger = replayer.ledger
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let free = concurrency - inFlight.value.load(ordering: .relaxed)
                if free > 0 {
                    do {
                        // The paused set first, then the accounts: an update that cleared a pause (same transaction)
                        // is loaded before that account's rows are claimed, so they never go out with the old secret.
                        let paused = Set(try await ledger.pausedAccounts().keys)
                        try await replayer.directory.refresh()
                        let excluded = paused.union(inFlight.accounts.withLock { $0 })
                        for entry in try await ledger.claimDue(limit: free, excludingAccounts: excluded, onePerAccount: true) {
                            inFlight.value.add(1, ordering: .relaxed)
                            inFlight.accounts.withLock { _ = $0.insert(entry.accountId) }
                            group.addTask {
                                await replayer.replay(entry)
                                inFlight.accounts.withLock { _ = $0.remove(entry.accountId) }
                                inFlight.value.subtract(1, ordering: .relaxed)
                            }
                        }
                    } catch {
                        logger.error("the upload queue cannot be read: \(error)")
                    }
                }
                try? await cancelWhenGracefulShutdown { try await clock.sleep(for: pollInterval) }
            }
        }
    }
}

private final class InFlightCount: Sendable {
    let value = Atomic<Int>(0)
    let accounts = Mutex<Set<String>>([])
}
