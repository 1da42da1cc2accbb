import ServiceLifecycle

extension Service {
    /// Runs `body` every `interval` until the service group shuts down (a graceful shutdown ends the wait at
    /// once) or cancels the service.
    func repeatEvery(_ interval: Duration, _ body: () async -> Void) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            await body()
        }
    }
}
