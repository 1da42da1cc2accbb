import Dispatch
import NIOConcurrencyHelpers

/// Runs async work to its end from synchronous code (libFuzzer calls a C function per input).
func runBlocking<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
    let result = NIOLockedValueBox<T?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await work()
        result.withLockedValue { $0 = value }
        done.signal()
    }
    done.wait()
    guard let value = result.withLockedValue({ $0 }) else { preconditionFailure("the work ended without a result") }
    return value
}
