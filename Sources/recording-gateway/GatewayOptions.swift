import ArgumentParser
import Foundation
import Gateway
import Logging

/// `--config` and `--data-dir`, shared by every command that opens the data directory.
struct GatewayOptions: ParsableArguments {
    @Option(help: "The configuration file (see config.example.json).")
    var config: String = "config.example.json"

    @Option(help: "Data directory; overrides the file.")
    var dataDir: String?

    func load() throws -> GatewayConfig {
        var settings: GatewayConfig
        do {
            settings = try GatewayConfig.load(path: config)
            if let dataDir { settings.dataDir = dataDir }
            try settings.validate()
        } catch {
            throw CommandFailure(error.description)
        }
        return settings
    }

    /// The account registry in the data directory, after checking the master key.
    func accountRegistry() async throws -> (config: GatewayConfig, registry: AccountRegistry) {
        let settings = try load()
        do {
            return (settings, try await GatewayBootstrap.openStorage(config: settings).registry)
        } catch let error as any OperatorFacingError {
            throw CommandFailure(error.description)
        }
    }

    /// The ledger (the queue and the spool) beside a running `serve`, which keeps the spool's lock.
    func ledger() async throws -> RecordingLedger {
        let settings = try load()
        do {
            let (storage, registry) = try await GatewayBootstrap.openStorage(config: settings)
            return try await GatewayBootstrap.openLedger(
                config: settings,
                storage: storage,
                registry: registry,
                ownsSpool: false,
                logger: Logger(label: "recording-gateway")
            )
        } catch let error as any OperatorFacingError {
            throw CommandFailure(error.description)
        }
    }
}

/// A failure told to the operator on standard error, with exit status 1 (no usage text).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension AsyncParsableCommand {
    /// Runs `body`, printing a `CommandFailure` or an account error as one line and exiting 1.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as CommandFailure {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        } catch let error as any OperatorFacingError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
