import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import SigV4

@main
struct KazooLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kazoo-load",
        abstract: "Drive a recording gateway (or S3 itself) as a KAZOO cluster would, and report what it carried.",
        subcommands: [Run.self, Compare.self],
        defaultSubcommand: Run.self
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send calls' recordings at an open-loop Poisson rate; fetch a share back and compare them."
    )

    @Option(help: "The storage document's url: https://gw.example.com/k/<token> (gateway mode).")
    var storageURL: String?
    @Option(help: "The KAZOO account id (32 lowercase hex) the recordings belong to.")
    var accountId: String
    @Option(help: "Calls ending per second (Poisson).") var callsPerSecond: Double
    @Option(help: "How long calls keep ending, in seconds.") var durationSeconds: Double
    @Option(help: "Write the figures as JSON to this file.") var json: String?
    @Option(help: "Write the HTML report (charts over time) to this file.") var html: String?
    @Option(help: "The gateway's process id: its RSS and CPU are read from /proc.") var gatewayPid: Int32?
    @Option(help: "A name for this run in the reports.") var label = "run"
    @Option(help: "Median recording length, seconds (lognormal).") var medianSeconds = 180.0
    @Option(help: "The lognormal's shape (sigma of the log).") var sigma = 1.0
    @Option(help: "Longest recording, seconds (KAZOO's default limit: 3 hours).") var maxSeconds = 10_800.0
    @Option(help: "mp3 bit rate, kbit/s.") var bitRateKbps = 32.0
    @Option(help: "Share of recordings sent as wav (8 kHz 16-bit PCM).") var wavShare = 0.0
    @Option(help: "Share of stores sent as multipart (send_multipart).") var multipartShare = 0.2
    @Option(help: "Share of stores sent as multipart with a base64 file part.") var base64Share = 0.1
    @Option(help: "Share of recordings fetched back (KAZOO's doubled GET path) and compared.") var fetchShare = 0.1
    @Option(help: "A fetch follows its store after this many seconds at least.") var fetchDelayMin = 2.0
    @Option(help: "... and at most.") var fetchDelayMax = 10.0
    @Option(help: "Seed of the schedule, lengths and bytes.") var seed: UInt64 = 1
    @Option(help: "Seconds into the run at which a burst starts.") var burstAt: Double?
    @Option(help: "The burst's length, seconds.") var burstSeconds = 30.0
    @Option(help: "The burst's rate as a multiple of --calls-per-second.") var burstFactor = 10.0
    @Option(help: "Seconds per point of the charts (default: the run's length / 120, at least 1).") var windowSeconds: Double?
    @Option(help: "Direct mode: the S3 endpoint (http://host:port) to send the same load to with presigned URLs.")
    var directS3: String?
    @Option(help: "Direct mode: the bucket.") var bucket: String?
    @Option(help: "Direct mode: the region.") var region = "us-east-1"
    @Option(help: "Most connections at once towards the target.") var maxConnections = 2_048
    @Flag(help: "No stores: fetch every recording of the plan (same options and seed as the run that stored them).")
    var verifyOnly = false
    @Flag(help: "Accept any TLS certificate (a test gateway's self-signed one).") var insecure = false

    func validate() throws {
        guard accountId.count == 32, accountId.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw ValidationError("--account-id must be 32 lowercase hex characters (a KAZOO account id)")
        }
        guard callsPerSecond > 0, durationSeconds > 0 else { throw ValidationError("--calls-per-second and --duration-seconds must be positive") }
        guard (storageURL == nil) != (directS3 == nil) else { throw ValidationError("give --storage-url (gateway) or --direct-s3 (S3), not both") }
        if directS3 != nil, bucket == nil { throw ValidationError("--direct-s3 needs --bucket") }
        for (name, share) in [("--wav-share", wavShare), ("--fetch-share", fetchShare), ("--multipart-share", multipartShare + base64Share)]
        where !(0...1).contains(share) {
            throw ValidationError("\(name) must be between 0 and 1 (multipart and base64 shares together)")
        }
        guard fetchDelayMin >= 0, fetchDelayMax >= fetchDelayMin else {
            throw ValidationError("--fetch-delay-min must be ≥ 0 and ≤ --fetch-delay-max")
        }
    }

    func run() async throws {
        let options = CallPlan.Options(
            accountId: accountId,
            callsPerSecond: callsPerSecond,
            durationSeconds: durationSeconds,
            medianSeconds: medianSeconds,
            sigma: sigma,
            maxSeconds: maxSeconds,
            bitRateKbps: bitRateKbps,
            wavShare: wavShare,
            multipartShare: multipartShare,
            base64Share: base64Share,
            fetchShare: fetchShare,
            fetchDelaySeconds: fetchDelayMin...fetchDelayMax,
            seed: seed,
            burstAt: burstAt,
            burstSeconds: burstSeconds,
            burstFactor: burstFactor
        )
        let target = try makeTarget()
        let plan = CallPlan(options: options).calls()
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 4, allowCycles: false),
            timeout: .init(connect: .seconds(10), read: .seconds(300))
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        if insecure {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            configuration.tlsConfiguration = tls
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let recorder = Recorder(windowSeconds: windowSeconds ?? max(1, (durationSeconds / 120).rounded()))
        let started = Date()
        print("\(label): \(plan.count) calls over \(durationSeconds) s (\(target.mode))")
        let runner = LoadRunner(plan: plan, target: target, client: client, recorder: recorder, gatewayPid: gatewayPid, verifyOnly: verifyOnly)
        let (samples, elapsed) = await runner.run()
        try await client.shutdown()
        let report = LoadReport(
            label: label,
            target: target,
            options: options,
            settings: settings,
            planned: verifyOnly ? 0 : plan.count,
            recorder: recorder,
            samples: samples,
            elapsed: elapsed,
            started: started
        )
        print(report.summary)
        if let json { try LoadReport.encoder.encode(report).write(to: URL(fileURLWithPath: json)) }
        if let html { try Data(HTMLReport.page(report).utf8).write(to: URL(fileURLWithPath: html)) }
    }

    /// The options that shaped the load, as the report repeats them (no URL: it carries the client token).
    private var settings: [String: String] {
        [
            "median_seconds": "\(medianSeconds)", "sigma": "\(sigma)", "max_seconds": "\(maxSeconds)", "bit_rate_kbps": "\(bitRateKbps)",
            "wav_share": "\(wavShare)", "multipart_share": "\(multipartShare)", "base64_share": "\(base64Share)",
            "fetch_share": "\(fetchShare)", "seed": "\(seed)", "burst_at": burstAt.map { "\($0)" } ?? "none",
            "burst_seconds": "\(burstSeconds)", "burst_factor": "\(burstFactor)",
        ]
    }

    private func makeTarget() throws -> LoadTarget {
        if let storageURL { return .gateway(storageURL: storageURL) }
        guard let directS3, let endpoint = URL(string: directS3), endpoint.host != nil, let bucket else {
            throw ValidationError("--direct-s3 must be a URL such as http://127.0.0.1:9000")
        }
        let environment = ProcessInfo.processInfo.environment
        guard let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] else {
            throw ValidationError("direct mode reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment")
        }
        let credentials = Credentials(accessKeyId: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        return .directS3(endpoint: endpoint, bucket: bucket, signer: SigV4Signer(credentials: credentials, region: region))
    }
}
