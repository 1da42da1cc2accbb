import S3
import ServiceLifecycle

/// Hands the allocator's free pages back to the system every `interval` (`malloc_trim`).
///
/// With one arena (`AllocatorTuning`), memory freed in the middle of the heap stays resident until something
/// asks for it back: the 30-minute soak saw RSS climb from 87 to 109 MiB (first and last ten minutes) while
/// the live memory did not (81.8 MiB after one `malloc_trim`). Every 30 s keeps RSS close to what is held.
struct FreeMemoryReturner: Service {
    var interval: Duration = .seconds(30)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            AllocatorTuning.returnFreeMemory()
        }
    }
}
