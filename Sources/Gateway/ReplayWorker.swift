import Foundation
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
    let logger: Logger

    func run() async throws {
        let inFlight = InFlightCount()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let free = concurrency - inFlight.value.load(ordering: .relaxed)
                if free > 0 {
                    do {
                        // The paused set first, then the accounts: an update that cleared a pause (same transaction)
                        // is loaded before that account's rows are claimed, so they never go out with the old secret.
                        let paused = Set(try replayer.queue.pausedAccounts().keys)
                        try await replayer.directory.refresh()
                        let excluded = paused.union(inFlight.accounts.withLock { $0 })
                        for entry in try replayer.queue.claimDue(limit: free, excludingAccounts: excluded, onePerAccount: true) {
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
                try? await gracefulShutdownAwareSleep(pollInterval)
            }
        }
    }

    /// Sleeps, waking early on graceful shutdown.
    private func gracefulShutdownAwareSleep(_ duration: Duration) async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
    }
}

private final class InFlightCount: Sendable {
    let value = Atomic<Int>(0)
    let accounts = Mutex<Set<String>>([])
}
