import Dispatch
import NIOConcurrencyHelpers
public import NIOCore

/// The bytes all uploads in the process may hold at once. A part buffer is acquired before it is
/// filled and released when its upload ends; when the budget is spent, `acquire` waits, so the
/// reader stops reading its socket — that wait is the backpressure. Waiters are served first come,
/// first served, and a cancelled waiter leaves the queue without taking anything. A `background` taker
/// (a replay of the queue) comes after every `normal` one (a live store): it gets memory only when no
/// live store waits for it.
///
/// Buffers taken with `acquireBuffer` and given back with `recycle` may be kept for the next taker of the
/// same size, still charged (the memory is resident either way): a fresh part buffer is memory the kernel
/// maps and zeroes page by page as it is first written, which cost a fifth of an upload's CPU. Kept
/// buffers never hold back anyone: whoever needs their room gets it, and they are dropped.
public final class MemoryBudget: Sendable {
    public let capacity: Int
    /// The most bytes kept buffers may hold.
    public let spareLimit: Int

    /// Who is served first when memory is short.
    public enum Priority: Sendable, Hashable {
        /// Live work: served in arrival order, before any background taker.
        case normal
        /// Work that can wait (replays): served only while no normal taker waits.
        case background
    }

    private struct Waiter {
        var id: UInt64
        var bytes: Int
        var priority: Priority
        /// Resumed with true when granted, false when its time ran out.
        var continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        let capacity: Int
        var inUse = 0
        var highWaterMark = 0
        var nextId: UInt64 = 0
        var waiters: [Waiter] = []
        /// Buffers given back for reuse, each with its charge (counted in `inUse`) and when it was given back;
        /// the most recently given back last.
        var spares: [(buffer: ByteBuffer, charge: Int, keptAt: ContinuousClock.Instant)] = []
        var spareBytes: Int { spares.reduce(0) { $0 + $1.charge } }

        /// Grants waiters at the head of the queue while they fit, dropping kept buffers to make room;
        /// returns the ones to resume (and the dropped buffers, to free outside the lock).
        mutating func grantWaiters() -> (granted: [CheckedContinuation<Bool, any Error>], dropped: [ByteBuffer]) {
            var granted: [CheckedContinuation<Bool, any Error>] = []
            var dropped: [ByteBuffer] = []
            // The first normal waiter, or when none waits, the first background one.
            while let index = waiters.firstIndex(where: { $0.priority == .normal }) ?? (waiters.isEmpty ? nil : 0) {
                let first = waiters[index]
                dropped += makeRoom(for: first.bytes)
                guard inUse + first.bytes <= capacity else { break }
                waiters.remove(at: index)
                take(first.bytes)
                granted.append(first.continuation)
            }
            return (granted, dropped)
        }

        /// Whether a taker of `priority` must queue behind waiters already there.
        func mustQueue(_ priority: Priority) -> Bool {
            priority == .background ? !waiters.isEmpty : waiters.contains { $0.priority == .normal }
        }

        /// Drops kept buffers, oldest first, until `bytes` fit (or none is left).
        mutating func makeRoom(for bytes: Int) -> [ByteBuffer] {
            var dropped: [ByteBuffer] = []
            while inUse + bytes > capacity, !spares.isEmpty {
                let spare = spares.removeFirst()
                inUse -= spare.charge
                dropped.append(spare.buffer)
            }
            return dropped
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

    private let state: NIOLockedValueBox<State>

    /// `spareLimit`: the most bytes kept for reuse (default: a quarter of the capacity).
    public init(capacity: Int, spareLimit: Int? = nil) {
        self.capacity = capacity
        self.spareLimit = spareLimit ?? capacity / 4
        self.state = NIOLockedValueBox(State(capacity: capacity))
    }

    /// An empty buffer of `charge` bytes' capacity, charged to the budget (waiting like `acquire`): a
    /// kept one of that size when there is one, else a new one. Give it back with `recycle`.
    public func acquireBuffer(charge: Int, priority: Priority = .normal) async throws -> ByteBuffer {
        let spare: ByteBuffer? = state.withLockedValue { state in
            guard !state.mustQueue(priority), let index = state.spares.lastIndex(where: { $0.charge == charge }) else { return nil }
            return state.spares.remove(at: index).buffer
        }
        if let spare { return spare }
        _ = try await acquire(charge, timeout: nil, priority: priority)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(charge)
        return buffer
    }

    /// Gives back a buffer from `acquireBuffer` and its charge: kept for the next taker (emptied, its
    /// charge still held) while nobody waits and the kept buffers stay under `spareLimit`, else freed. A
    /// buffer whose memory someone else still holds (an HTTP client finishing with it) is not kept.
    public func recycle(_ buffer: consuming ByteBuffer, charge: Int) {
        var buffer = buffer
        // Emptied outside the lock, in place: nothing is allocated for a buffer that is not ours alone.
        let emptied = buffer.modifyIfUniquelyOwned { $0.clear() } != nil
        let kept =
            emptied
            && state.withLockedValue { state in
                guard state.waiters.isEmpty, state.spareBytes + charge <= spareLimit, buffer.capacity >= charge else { return false }
                state.spares.append((buffer, charge, .now))
                return true
            }
        if !kept { release(charge) }
    }

    /// Frees the kept buffers nobody took again since `instant`: parts of their size are not in demand now, and
    /// kept they would hold memory for good (a gateway storing recordings of every size ends up keeping a buffer of
    /// nearly every size, up to `spareLimit`). Returns the bytes given back to the budget.
    @discardableResult
    public func dropSpares(keptBefore instant: ContinuousClock.Instant) -> Int {
        let dropped = state.withLockedValue { state in
            // Kept in the order given back: the ones to drop come first.
            let count = state.spares.firstIndex { $0.keptAt >= instant } ?? state.spares.count
            let old = state.spares.prefix(count)
            state.spares.removeFirst(count)
            let bytes = old.reduce(0) { $0 + $1.charge }
            state.inUse -= bytes
            return (buffers: old.map(\.buffer), bytes: bytes)
        }
        return dropped.bytes  // the buffers are freed here, outside the lock
    }

    /// Takes `bytes` if they are free now (nobody waiting before), without waiting; whether it did.
    public func tryAcquire(_ bytes: Int) -> Bool {
        guard bytes > 0, bytes <= capacity else { return false }
        let (taken, dropped): (Bool, [ByteBuffer]) = state.withLockedValue { state in
            guard state.waiters.isEmpty else { return (false, []) }
            let dropped = state.makeRoom(for: bytes)
            guard state.inUse + bytes <= capacity else { return (false, dropped) }
            state.take(bytes)
            return (true, dropped)
        }
        _ = dropped  // freed outside the lock
        return taken
    }

    /// Takes `bytes` from the budget, waiting while it is spent. Throws `CancellationError` if the task is cancelled while waiting.
    public func acquire(_ bytes: Int, priority: Priority = .normal) async throws {
        _ = try await acquire(bytes, timeout: nil, priority: priority)
    }

    /// Takes `bytes`, waiting at most `timeout`: false if they could not be had in that time (nothing is
    /// held then). The time is kept by a timer of its own, not by a task: a waiter whose time ran out
    /// leaves the queue then, however busy the tasks that would notice it are.
    public func acquire(_ bytes: Int, within timeout: Duration) async throws -> Bool {
        try await acquire(bytes, timeout: timeout, priority: .normal)
    }

    private func acquire(_ bytes: Int, timeout: Duration?, priority: Priority) async throws -> Bool {
        guard bytes > 0, bytes <= capacity else { throw MemoryBudgetError(requested: bytes, capacity: capacity) }
        try Task.checkCancellation()
        let (id, dropped): (UInt64?, [ByteBuffer]) = state.withLockedValue { state in
            let queue = state.mustQueue(priority)
            let dropped = queue ? [] : state.makeRoom(for: bytes)
            if !queue && state.inUse + bytes <= capacity {
                state.take(bytes)
                return (nil, dropped)
            }
            state.nextId += 1
            return (state.nextId, dropped)
        }
        _ = dropped  // freed outside the lock
        guard let id else { return true }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                let granted: (granted: [CheckedContinuation<Bool, any Error>], dropped: [ByteBuffer])? = state.withLockedValue { state in
                    if Task.isCancelled { return nil }
                    state.waiters.append(Waiter(id: id, bytes: bytes, priority: priority, continuation: continuation))
                    // A release may have happened between the first check and now.
                    return state.grantWaiters()
                }
                guard let granted else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                for waiter in granted.granted { waiter.resume(returning: true) }
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
        let (left, granted) = state.withLockedValue { state in (state.remove(id), state.grantWaiters()) }
        if let left { resume(left) }
        for continuation in granted.granted { continuation.resume(returning: true) }
    }

    /// Gives `bytes` back and wakes the waiters that now fit.
    public func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        let granted = state.withLockedValue { state in
            assert(state.inUse >= bytes, "released more than was acquired")
            state.inUse -= min(bytes, state.inUse)
            return state.grantWaiters()
        }
        for continuation in granted.granted { continuation.resume(returning: true) }
    }

    /// Bytes held right now by takers (not counting kept buffers: see `spareBytes`).
    public var inUse: Int { state.withLockedValue { $0.inUse - $0.spareBytes } }

    /// Bytes held by buffers kept for reuse.
    public var spareBytes: Int { state.withLockedValue { $0.spareBytes } }

    /// Readers waiting for room.
    public var waiting: Int { state.withLockedValue { $0.waiters.count } }

    /// The most bytes ever held at once, kept buffers included.
    public var highWaterMark: Int { state.withLockedValue { $0.highWaterMark } }
}

/// A request the budget can never satisfy: a part larger than the whole budget.
public struct MemoryBudgetError: Error, Sendable, CustomStringConvertible {
    public var requested: Int
    public var capacity: Int
    public var description: String { "a buffer of \(requested) bytes cannot fit the memory budget of \(capacity) bytes" }
}
