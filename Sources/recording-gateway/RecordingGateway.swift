import ArgumentParser
import Gateway
import S3

@main
struct RecordingGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recording-gateway",
        abstract: "Streams KAZOO call recordings into each account's own S3 bucket.",
        version: GatewayVersion.current,
        subcommands: [Serve.self, Accounts.self, Queue.self, Policy.self, Verify.self]
    )

    /// The allocator's setting comes first, on the main thread: glibc fixes its arena limit when a second thread
    /// first allocates, so set from `serve`'s `run` (already on a concurrency thread) it came after a second
    /// arena had been made, and half the threads allocated there.
    static func main() async {
        AllocatorTuning.limitArenas()
        await main(nil)
    }
}
