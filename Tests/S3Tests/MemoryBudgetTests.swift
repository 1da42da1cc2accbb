import NIOConcurrencyHelpers
import NIOCore
import S3
import TestSupport
import Testing

struct MemoryBudgetTests {
    @Test func accountingIsExact() async throws {
        let budget = MemoryBudget(capacity: 100)
        try await budget.acquire(60)
        try await budget.acquire(40)
        #expect(budget.inUse == 100)
        budget.release(60)
        budget.release(40)
        #expect(budget.inUse == 0)
        #expect(budget.highWaterMark == 100)
    }

    @Test func liveTakersAreServedBeforeBackgroundOnesWhateverTheOrder() async throws {
        let budget = MemoryBudget(capacity: 100)
        try await budget.acquire(100)
        final class Order: Sendable { let list = NIOLockedValueBox<[String]>([]) }
        let order = Order()
        // A replay asks first, a live store second: the live store gets the room first.
        async let replay: Void = {
            try await budget.acquire(60, priority: .background)
            order.list.withLockedValue { $0.append("replay") }
        }()
        #expect(try await eventually(10) { budget.waiting == 1 })
        async let live: Void = {
            try await budget.acquire(60)
            order.list.withLockedValue { $0.append("live") }
        }()
        #expect(try await eventually(10) { budget.waiting == 2 })
        budget.release(100)
        try await live
        #expect(order.list.withLockedValue { $0 } == ["live"], "the replay waits while the live store holds the room")
        budget.release(60)
        try await replay
        #expect(order.list.withLockedValue { $0 } == ["live", "replay"])
        // A background taker does not pass a live one waiting, even where it would fit.
        async let bigLive: Void = budget.acquire(80)
        #expect(try await eventually(10) { budget.waiting == 1 })
        async let small: Void = budget.acquire(10, priority: .background)
        #expect(try await eventually(10) { budget.waiting == 2 }, "it waits though 10 would fit beside the 60 held")
        budget.release(60)
        try await bigLive
        try await small
        #expect(budget.inUse == 90)
    }

    /// The address of a buffer's storage.
    static func storage(_ buffer: inout ByteBuffer) -> UnsafeMutableRawPointer? {
        buffer.withUnsafeMutableWritableBytes { $0.baseAddress }
    }

    @Test func aRecycledBufferServesTheNextTakerOfItsSizeStillCharged() async throws {
        let budget = MemoryBudget(capacity: 1 << 20)
        var first = try await budget.acquireBuffer(charge: 1 << 16)
        #expect(first.capacity >= 1 << 16 && budget.inUse == 1 << 16)
        let address = Self.storage(&first)
        first.writeRepeatingByte(7, count: 1000)
        budget.recycle(consume first, charge: 1 << 16)
        // Kept: nobody holds it, but its memory is still charged.
        #expect(budget.inUse == 0 && budget.spareBytes == 1 << 16 && budget.highWaterMark == 1 << 16)
        var second = try await budget.acquireBuffer(charge: 1 << 16)
        #expect(Self.storage(&second) == address, "the same memory, not a new allocation")
        #expect(second.readableBytes == 0, "emptied")
        #expect(budget.inUse == 1 << 16 && budget.spareBytes == 0)
        // Another size is a new buffer.
        let other = try await budget.acquireBuffer(charge: 1 << 15)
        #expect(budget.inUse == 1 << 16 + 1 << 15)
        budget.recycle(second, charge: 1 << 16)
        budget.recycle(other, charge: 1 << 15)
        #expect(budget.inUse == 0)
    }

    @Test func keptBuffersNeverHoldAnyoneBack() async throws {
        let budget = MemoryBudget(capacity: 100, spareLimit: 100)
        let buffer = try await budget.acquireBuffer(charge: 64)
        budget.recycle(consume buffer, charge: 64)
        #expect(budget.spareBytes == 64)
        // 64 kept + 50 asked > 100: the kept buffer goes, without a wait.
        try await budget.acquire(50)
        #expect(budget.spareBytes == 0 && budget.inUse == 50)
        // A buffer given back while someone waits is freed for them, not kept.
        let held = try await budget.acquireBuffer(charge: 32)
        async let waiter: Void = budget.acquire(40)
        #expect(try await eventually(10) { budget.waiting == 1 })
        budget.recycle(consume held, charge: 32)
        try await waiter
        #expect(budget.spareBytes == 0 && budget.inUse == 90)
    }

    @Test func keptBuffersStayUnderTheirLimit() async throws {
        let budget = MemoryBudget(capacity: 1000, spareLimit: 100)
        let first = try await budget.acquireBuffer(charge: 64)
        let second = try await budget.acquireBuffer(charge: 64)
        budget.recycle(consume first, charge: 64)
        budget.recycle(consume second, charge: 64)
        #expect(budget.spareBytes == 64, "the second would pass the limit of 100: freed")
        #expect(budget.inUse == 0)
    }

    @Test func keptBuffersNobodyTookAgainAreFreedAndTheRestStay() async throws {
        let budget = MemoryBudget(capacity: 1000, spareLimit: 1000)
        budget.recycle(try await budget.acquireBuffer(charge: 64), charge: 64)
        let between = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(5))
        budget.recycle(try await budget.acquireBuffer(charge: 128), charge: 128)
        #expect(budget.spareBytes == 192)
        // Only the one kept before `between` goes; its charge is given back.
        #expect(budget.dropSpares(keptBefore: between) == 64)
        #expect(budget.spareBytes == 128 && budget.inUse == 0)
        // The other is still there for a taker of its size.
        _ = try await budget.acquireBuffer(charge: 128)
        #expect(budget.spareBytes == 0 && budget.inUse == 128)
        #expect(budget.dropSpares(keptBefore: .now) == 0)
    }

    @Test func aBufferSomeoneElseStillHoldsIsNotKept() async throws {
        let budget = MemoryBudget(capacity: 1000, spareLimit: 1000)
        var buffer = try await budget.acquireBuffer(charge: 64)
        buffer.writeRepeatingByte(1, count: 10)
        let stillHeld = buffer  // as an HTTP client may, a moment after the upload ended
        budget.recycle(consume buffer, charge: 64)
        #expect(budget.spareBytes == 0 && budget.inUse == 0, "freed, not kept")
        #expect(stillHeld.readableBytes == 10, "and not emptied under its other holder")
    }

    @Test func aRequestLargerThanTheBudgetIsAnErrorNotAHang() async {
        let budget = MemoryBudget(capacity: 10)
        await #expect(throws: MemoryBudgetError.self) { try await budget.acquire(11) }
        #expect(budget.inUse == 0)
    }

    @Test func aWaitWithATimeLimitGivesUpThenAndHoldsNothing() async throws {
        let budget = MemoryBudget(capacity: 10)
        try await budget.acquire(8)
        let started = ContinuousClock.now
        #expect(try await budget.acquire(5, within: .milliseconds(200)) == false)
        #expect(ContinuousClock.now - started >= .milliseconds(200))
        #expect(budget.inUse == 8 && budget.waiting == 0)
        // Time enough: granted when the holder releases.
        async let granted = budget.acquire(5, within: .seconds(30))
        #expect(try await eventually(10) { budget.waiting == 1 })
        budget.release(8)
        #expect(try await granted == true)
        #expect(budget.inUse == 5)
        // A waiter that gave up at the head of the queue lets the one behind it in.
        // (Its time is long enough to see it queued even when the test runner's threads are busy elsewhere.)
        async let big = budget.acquire(10, within: .seconds(3))
        #expect(try await eventually(10) { budget.waiting == 1 })
        async let small = budget.acquire(5)
        #expect(try await eventually(10) { budget.waiting == 2 } || budget.inUse == 10)
        #expect(try await big == false)
        try await small
        #expect(budget.inUse == 10)
    }

    @Test func waitersWaitWhileSpentAndAreServedInOrder() async throws {
        let budget = MemoryBudget(capacity: 10)
        try await budget.acquire(10)
        let order = Recorder()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    try await budget.acquire(10)
                    order.append(index)
                    budget.release(10)
                }
                // Let each waiter queue before the next one.
                while budget.waiting < index + 1 { await Task.yield() }
            }
            #expect(order.values.isEmpty)
            budget.release(10)
            try await group.waitForAll()
        }
        #expect(order.values == [0, 1, 2])
        #expect(budget.inUse == 0)
        #expect(budget.highWaterMark == 10)
    }

    @Test func aCancelledWaiterTakesNothingAndLetsOthersIn() async throws {
        let budget = MemoryBudget(capacity: 10)
        try await budget.acquire(8)
        let cancelled = Task { try await budget.acquire(5) }
        while budget.waiting < 1 { await Task.yield() }
        let patient = Task { try await budget.acquire(2) }  // fits, but queues behind the first waiter
        while budget.waiting < 2 { await Task.yield() }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        try await patient.value
        #expect(budget.inUse == 10)
        budget.release(10)
        #expect(budget.inUse == 0)
        #expect(budget.waiting == 0)
    }

    @Test func manyConcurrentUsersNeverExceedTheBudget() async throws {
        let budget = MemoryBudget(capacity: 64)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let bytes = index % 16 + 1
                    try await budget.acquire(bytes)
                    await Task.yield()
                    budget.release(bytes)
                }
            }
            try await group.waitForAll()
        }
        #expect(budget.inUse == 0)
        #expect(budget.highWaterMark <= 64)
    }
}

/// Collects values appended from concurrent tasks.
final class Recorder: Sendable {
    private let storage = NIOLockedValueBox<[Int]>([])
    func append(_ value: Int) { storage.withLockedValue { $0.append(value) } }
    var values: [Int] { storage.withLockedValue { $0 } }
}
