import ArgumentParser
import Gateway

@main
struct RecordingGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recording-gateway",
        abstract: "Streams KAZOO call recordings into each account's own S3 bucket.",
        version: GatewayVersion.current,
        subcommands: [Serve.self, Accounts.self, Queue.self, Policy.self, Verify.self]
    )
}
