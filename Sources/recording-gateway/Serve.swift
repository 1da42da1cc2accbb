import ArgumentParser
import Foundation
import Gateway
import Logging
import S3

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway until SIGTERM or SIGINT.")

    @OptionGroup var options: GatewayOptions

    @Option(help: "HOST:PORT to listen on; overrides the file.")
    var listen: String?

    @Option(help: "HOST:PORT of the admin listener (/metrics, admin API); overrides the file.")
    var adminListen: String?

    func run() async throws {
        try await reportingFailures {
            var settings = try options.load()
            if let listen { settings.listen = listen }
            if let adminListen { settings.adminListen = adminListen }
            do {
                try settings.validate()
            } catch {
                throw CommandFailure("\(error)")
            }
            LogSetup.bootstrap(format: settings.logFormat, level: settings.logLevel)
            let logger = Logger(label: "recording-gateway")
            let runtime: GatewayRuntime
            do {
                runtime = try await GatewayBootstrap.open(config: settings, logger: logger)
            } catch let error as any OperatorFacingError {
                throw CommandFailure(error.description)
            }
            let final = settings
            let scheme = settings.tlsCertificateFile == nil ? "http" : "https"
            let accounts = runtime.accountCount
            try await runtime.run { channel in
                let address = channel.localAddress.map { "\($0.ipAddress ?? final.listen):\($0.port ?? 0)" } ?? final.listen
                logger.info(
                    "recording-gateway \(GatewayVersion.current) listening",
                    metadata: ["address": "\(scheme)://\(address)", "accounts": "\(accounts)", "data_dir": "\(final.dataDir)"]
                )
            }
        }
    }
}
