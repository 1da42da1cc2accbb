import Foundation
import TestSupport

/// curl (installed by ./scripts/test), silent but for errors; `-w` output comes back as `output`.
enum Curl {
    static func run(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run("curl", ["-s", "-S"] + arguments)
    }
}

/// Runs blocking work (a child process, a raw socket) on a thread of its own. Swift's cooperative
/// pool has one thread per core: a test blocking two of them while waiting for the in-process gateway
/// would starve the gateway it waits for.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                continuation.resume(returning: try work())
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}
