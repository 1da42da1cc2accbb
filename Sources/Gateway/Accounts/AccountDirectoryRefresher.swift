import ServiceLifecycle

/// Reloads the directory when the accounts changed: it waits for the storage to signal a change (at most
/// `interval`, the poll of a storage that cannot signal) and reloads if the registry's revision moved.
struct AccountDirectoryRefresher: Service {
    let directory: AccountDirectory
    var interval: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await directory.registry.storage.waitForAccountChanges(timeout: interval) }
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
