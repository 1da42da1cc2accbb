import ArgumentParser
import Gateway
import S3

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @Option(help: "The configuration file (see config.example.json).")
    var config: String = "config.example.json"

    @Option(help: "HOST:PORT to listen on; overrides the file.")
    var listen: String?

    @Option(help: "Data directory; overrides the file.")
    var dataDir: String?

    func run() async throws {
        AllocatorTuning.limitArenas()
        var settings: GatewayConfig
        do {
            settings = try GatewayConfig.load(path: config)
        } catch {
            throw ValidationError(error.description)
        }
        if let listen { settings.listen = listen }
        if let dataDir { settings.dataDir = dataDir }
        print("recording-gateway \(GatewayVersion.current): configuration \(config) is valid (listen \(settings.listen), data \(settings.dataDir)).")
        print("No accounts are configured. The KAZOO-facing server is not built yet; nothing to serve.")
    }
}
