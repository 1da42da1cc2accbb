import Dispatch
import NIOConcurrencyHelpers

/// Wakes a waiter before its poll (the replay worker, the account reloader): a signal given while nobody
/// waits is kept for the next wait.
public final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextId: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Wakes the current wait, or the next one.
    public func signal() {
        let waiter = state.withLockedValue { state in
            guard let waiter = state.waiter else {
                state.signalled = true
                return CheckedContinuation<Void, Never>?.none
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns on a signal (one given since the last wait included), after `timeout`, or when the task
    /// is cancelled. One waiter at a time.
    func wait(upTo timeout: Duration) async {
        let id: UInt64? = state.withLockedValue { state in
            if state.signalled {
                state.signalled = false
                return nil
            }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if resumeNow {
                    continuation.resume()
                    return
                }
                let (seconds, attoseconds) = timeout.components
                let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { self.end(id) }
            }
        } onCancel: {
            end(id)
        }
    }

    /// Ends wait `id` if it is still the one waiting.
    private func end(_ id: UInt64) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }
}
