import ServiceLifecycle

/// Polls the registry's revision once a second and reloads the directory when it moved.
struct AccountDirectoryRefresher: Service {
    let directory: AccountDirectory
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                try await directory.refresh()
            } catch {
                directory.logger.warning("cannot read the account registry: \(error)")
            }
        }
    }
}
