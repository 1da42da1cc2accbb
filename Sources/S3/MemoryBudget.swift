import Dispatch
import Synchronization

/// The bytes all uploads in the process may hold at once. A part buffer is acquired before it is
/// filled and released when its upload ends; when the budget is spent, `acquire` waits, so the
/// reader stops reading its socket — that wait is the backpressure. Waiters are served first come,
/// first served, and a cancelled waiter leaves the queue without taking anything.
public final class MemoryBudget: Sendable {
    public let capacity: Int

    private struct Waiter {
        var id: UInt64
        var bytes: Int
        /// Resumed with true when granted, false when its time ran out.
        var continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        let capacity: Int
        var inUse = 0
        var highWaterMark = 0
        var nextId: UInt64 = 0
        var waiters: [Waiter] = []

        /// Grants waiters at the head of the queue while they fit; returns the ones to resume.
        mutating func grantWaiters() -> [CheckedContinuation<Bool, any Error>] {
            var granted: [CheckedContinuation<Bool, any Error>] = []
            while let first = waiters.first, inUse + first.bytes <= capacity {
                waiters.removeFirst()
                take(first.bytes)
                granted.append(first.continuation)
            }
            return granted
        }

        mutating func take(_ bytes: Int) {
            inUse += bytes
            highWaterMark = max(highWaterMark, inUse)
        }

        /// Takes waiter `id` out of the queue, if it is still there.
        mutating func remove(_ id: UInt64) -> CheckedContinuation<Bool, any Error>? {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return waiters.remove(at: index).continuation
        }
    }

    private let state: Mutex<State>

    public init(capacity: Int) {
        self.capacity = capacity
        self.state = Mutex(State(capacity: capacity))
    }

    /// Takes `bytes` from the budget, waiting while it is spent. Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire(_ bytes: Int) async throws {
        _ = try await acquire(bytes, timeout: nil)
    }

    /// Takes `bytes`, waiting at most `timeout`: false if they could not be had in that time (nothing is
    /// held then). The time is kept by a timer of its own, not by a task: a waiter whose time ran out
    /// leaves the queue then, however busy the tasks that would notice it are.
    public func acquire(_ bytes: Int, within timeout: Duration) async throws -> Bool {
        try await acquire(bytes, timeout: timeout)
    }

    private func acquire(_ bytes: Int, timeout: Duration?) async throws -> Bool {
        guard bytes > 0, bytes <= capacity else { throw MemoryBudgetError(requested: bytes, capacity: capacity) }
        try Task.checkCancellation()
        let id: UInt64? = state.withLock { state in
            if state.waiters.isEmpty && state.inUse + bytes <= capacity {
                state.take(bytes)
                return nil
            }
            state.nextId += 1
            return state.nextId
        }
        guard let id else { return true }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                let granted: [CheckedContinuation<Bool, any Error>]? = state.withLock { state in
                    if Task.isCancelled { return nil }
                    state.waiters.append(Waiter(id: id, bytes: bytes, continuation: continuation))
                    // A release may have happened between the first check and now.
                    return state.grantWaiters()
                }
                guard let granted else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                for waiter in granted { waiter.resume(returning: true) }
                if let timeout {
                    let (seconds, attoseconds) = timeout.components
                    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
                    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                        self.leave(id, with: { $0.resume(returning: false) })
                    }
                }
            }
        } onCancel: {
            leave(id, with: { $0.resume(throwing: CancellationError()) })
        }
    }

    /// Takes waiter `id` out of the queue (if it is still waiting) and resumes it with `resume`; the
    /// waiters behind it may fit now.
    private func leave(_ id: UInt64, with resume: (CheckedContinuation<Bool, any Error>) -> Void) {
        let (left, granted) = state.withLock { state in (state.remove(id), state.grantWaiters()) }
        if let left { resume(left) }
        for continuation in granted { continuation.resume(returning: true) }
    }

    /// Gives `bytes` back and wakes the waiters that now fit.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let granted = state.withLock { state in
            assert(state.inUse >= bytes, "released more than was acquired")
            state.inUse -= min(bytes, state.inUse)
            return state.grantWaiters()
        }
        for continuation in granted { continuation.resume(returning: true) }
    }

    /// Bytes held right now.
    public var inUse: Int { state.withLock { $0.inUse } }

    /// Readers waiting for room.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// The most bytes ever held at once.
    public var highWaterMark: Int { state.withLock { $0.highWaterMark } }
}

/// A request the budget can never satisfy: a part larger than the whole budget.
public struct MemoryBudgetError: Error, Sendable, CustomStringConvertible {
    public var requested: Int
    public var capacity: Int
    public var description: String { "a buffer of \(requested) bytes cannot fit the memory budget of \(capacity) bytes" }
}
