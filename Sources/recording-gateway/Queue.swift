public import ArgumentParser
import Foundation
import Gateway
import Logging

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect and drive the retry queue of spooled uploads (safe while `serve` runs).",
        subcommands: [List.self, Show.self, Retry.self, Replay.self, Discard.self, Adopt.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List queued uploads, oldest first, and paused accounts.")
        @Option(help: "Only this state: pending, uploading, stored or failed.") var state: QueuedUpload.State?
        @Option(help: "Only this account's uploads.") var account: String?
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print a JSON array.") var json = false

        func run() async throws {
            try await reportingFailures {
                let ledger = try await options.ledger()
                let entries = try await ledger.uploads(state: state, accountId: account)
                if json {
                    print(QueuePresentation.json(entries.map(QueuePresentation.object)))
                    return
                }
                if entries.isEmpty { print("No queued uploads" + (state.map { " in state \($0.rawValue)" } ?? "") + ".") }
                for entry in entries { print(QueuePresentation.line(entry)) }
                for (accountId, pause) in try await ledger.accountPauses().sorted(by: { $0.key < $1.key }) {
                    let probe = QueuePresentation.timestamp(pause.nextProbeAt)
                    print("paused account \(accountId): \(pause.reason) (\(pause.probes) failed probes, next probe \(probe))")
                }
                print(try await ledger.snapshot().drainSummary)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one queued upload.")
        @Argument(help: "The queue id.") var id: Int64
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await reportingFailures {
                let ledger = try await options.ledger()
                guard let entry = try await ledger.upload(id) else { throw CommandFailure("no queued upload \(id)") }
                print(json ? QueuePresentation.json(QueuePresentation.object(entry)) : QueuePresentation.text(entry))
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make queued uploads due now (pending and failed ones) and resume their paused accounts; `serve` replays them."
        )
        @Argument(help: "One queue id.") var id: Int64?
        @Option(help: "Every upload of this account.") var account: String?
        @Flag(help: "Every upload.") var all = false
        @OptionGroup var options: GatewayOptions

        func validate() throws {
            guard [id != nil, account != nil, all].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of ID, --account ID or --all")
            }
        }

        func run() async throws {
            try await reportingFailures {
                let count = try await options.ledger().retryNow(id: id, accountId: account)
                print("\(count) queued upload\(count == 1 ? "" : "s") due now.")
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload queued recordings now, in the foreground, with progress (for an operator fixing an outage)."
        )
        @Argument(help: "One queue id.") var id: Int64?
        @Flag(help: "Every pending and failed upload.") var all = false
        @OptionGroup var options: GatewayOptions

        func validate() throws {
            guard (id != nil) != all else { throw ValidationError("give exactly one of ID or --all") }
        }

        func run() async throws {
            try await reportingFailures {
                let config = try options.load()
                LogSetup.bootstrap(format: config.logFormat, level: "warning")
                var stored = 0
                var notStored = 0
                try await options.withRuntime(config) { runtime in
                    let ledger = runtime.ledger
                    try await ledger.retryNow(id: id)
                    let replayer = runtime.replayer
                    while true {
                        let next: QueuedUpload?
                        if let id {
                            guard stored + notStored == 0 else { break }
                            guard let claimed = try await ledger.claim(id) else {
                                throw CommandFailure("queued upload \(id) is not pending (see `queue show \(id)`)")
                            }
                            next = claimed
                        } else {
                            next = try await ledger.claimNextDue()
                        }
                        guard let entry = next else { break }
                        let size = entry.size
                        print("replaying \(entry.id ?? 0): \(entry.objectKey) (\(size) bytes)")
                        let outcome = await replayer.replay(entry) { done in
                            if done == size || done % (16 * 1024 * 1024) < 65536 {
                                FileHandle.standardError.write(Data("  \(done)/\(size) bytes\n".utf8))
                            }
                        }
                        switch outcome {
                        case .stored:
                            stored += 1
                            print("  stored")
                        case .failed(let reason), .paused(let reason), .retryLater(let reason):
                            notStored += 1
                            print("  not stored: \(reason)")
                        }
                    }
                }
                print("\(stored) stored, \(notStored) not stored.")
                if notStored > 0 { throw ExitCode.failure }
            }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a queued upload and its spool file for good: the recording is destroyed unless S3 already has it."
        )
        @Argument(help: "The queue id.") var id: Int64
        @Flag(help: "Really destroy it.") var yes = false
        @OptionGroup var options: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                let ledger = try await options.ledger()
                guard let entry = try await ledger.upload(id) else { throw CommandFailure("no queued upload \(id)") }
                let what =
                    "queued upload \(id) (\(entry.state.rawValue)): account \(entry.accountId), key \(entry.objectKey), \(entry.size) bytes, spool file \(ledger.spool.path(entry.spoolFile))"
                guard yes else {
                    throw CommandFailure("this destroys \(what); the recording is lost unless S3 already has it. Run again with --yes to do it.")
                }
                try await ledger.discard(entry)
                print("Destroyed \(what).")
            }
        }
    }

    struct Adopt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Take over a dead node's spooled recordings (several gateways on PostgreSQL): first move its spool files into this node's spool directory; this node's serve then replays them."
        )
        @Option(help: "The node_id of the node whose recordings to take over.") var fromNode: String
        @OptionGroup var options: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                let config = try options.load()
                guard fromNode != config.node else { throw CommandFailure("\(fromNode) is this node (node_id); give the dead node's id") }
                let (adopted, missing) = try await options.ledger().adopt(fromNode: fromNode)
                print("\(adopted) queued upload\(adopted == 1 ? "" : "s") of node \(fromNode) now this node's (\(config.node)).")
                if !missing.isEmpty {
                    print(
                        "\(missing.count) of its waiting recordings have no spool file here (not adopted), e.g. \(missing.prefix(3).joined(separator: ", "))."
                    )
                    throw ExitCode.failure
                }
            }
        }
    }
}

extension QueuedUpload.State: ExpressibleByArgument {}

extension GatewayOptions {
    /// Runs `body` with the gateway's parts opened beside a running `serve` (the spool is not taken over),
    /// then closes the S3 connections.
    func withRuntime(_ config: GatewayConfig, _ body: (GatewayRuntime) async throws -> Void) async throws {
        let runtime: GatewayRuntime
        do {
            runtime = try await GatewayBootstrap.open(config: config, ownsSpool: false, logger: Logger(label: "recording-gateway"))
        } catch let error as any OperatorFacingError {
            throw CommandFailure(error.description)
        }
        do {
            try await body(runtime)
        } catch {
            try? await runtime.http.shutdown()
            throw error
        }
        try await runtime.http.shutdown()
    }
}
