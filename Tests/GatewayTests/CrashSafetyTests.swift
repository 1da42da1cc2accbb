import AsyncHTTPClient
import Foundation
import NIOCore
import S3
import Spool
import TestSupport
import Testing

@testable import Gateway

/// The real executable, killed with SIGKILL in the middle of a live store and in the middle of a
/// replay, then started again on the same data directory; and the `queue` commands an operator uses.
@Suite(.serialized)
struct CrashSafetyTests {
    /// A data directory, a configuration file, a master key and a private moto (not started: S3 is down).
    final class Setup: Sendable {
        let directory = NSTemporaryDirectory() + "rg-crash-\(UUID().uuidString)"
        let port = BackgroundProcess.freePort()
        let moto = PrivateMoto()
        let masterKey = MasterKey.generateEncoded()
        let accountId = TestEnvironment.accountId()
        var config: String { directory + "/config.json" }
        var dataDir: String { directory + "/data" }
        var spoolDir: String { dataDir + "/spool" }
        var environment: [String: String] { [MasterKey.environmentVariable: masterKey] }

        /// - Parameter moreConfig: further `"key": value` pairs for the configuration file.
        init(moreConfig: String = "") throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let json = """
                {"listen": "127.0.0.1:\(port)", "admin_listen": "127.0.0.1:0", "data_dir": "\(dataDir)", "public_base_url": "http://127.0.0.1:\(port)",
                 "spool_min_free_bytes": 0, "replay_base_delay_seconds": 0.2, "replay_max_delay_seconds": 1,
                 "s3_retry_max_attempts": 2, "s3_retry_base_delay_ms": 10, "s3_retry_max_delay_ms": 50, "shutdown_drain_seconds": 2\(moreConfig)}
                """
            try Data(json.utf8).write(to: URL(fileURLWithPath: config))
        }

        deinit {
            moto.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func cli(_ arguments: [String], input: String = "") async throws -> ChildProcess.Result {
            let environment = environment
            let config = config
            return try await onOwnThread { try CommandLineTests.run(arguments + ["--config", config], input: input, environment: environment) }
        }

        /// Adds the account (on the private moto) with the command line; returns its token.
        func addAccount() async throws -> String {
            try await addAccount(bucket: moto.bucket, host: moto.host, accessKeyId: "AKIDPRIVATEMOTO", secret: "private-moto-secret")
        }

        /// Adds the account on `rclone serve s3` (the test command's) with the command line; returns its token.
        func addRcloneAccount() async throws -> String {
            try await addAccount(
                bucket: try TestServers.environment("RG_RCLONE_BUCKET"),
                host: try TestEnvironment.host(of: "RG_RCLONE_ENDPOINT"),
                accessKeyId: try TestServers.environment("RG_RCLONE_ACCESS_KEY"),
                secret: try TestServers.environment("RG_RCLONE_SECRET_KEY")
            )
        }

        func addAccount(bucket: String, host: String, accessKeyId: String, secret: String, accountId: String? = nil) async throws -> String {
            let added = try await cli(
                [
                    "accounts", "add", "--account-id", accountId ?? self.accountId, "--name", "Test account", "--bucket", bucket, "--host", host,
                    "--scheme", "http", "--path-style", "--access-key-id", accessKeyId, "--secret-access-key-stdin", "--json",
                ],
                input: secret
            )
            try #require(added.status == 0, "\(added.error)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: Any])
            return try #require(object["token"] as? String)
        }

        /// Starts `serve` and waits until it listens.
        func serve() async throws -> BackgroundProcess {
            let arguments = ["serve", "--config", config]
            let environment = ProcessInfo.processInfo.environment.merging(self.environment) { $1 }
            let port = port
            return try await onOwnThread {
                let process = try BackgroundProcess(CommandLineTests.binary, arguments, environment: environment)
                guard BackgroundProcess.waitForPort(port) else { throw TestServerMissing(description: "serve did not start: \(process.output)") }
                return process
            }
        }

        func queue() throws -> SQLiteDatabase { try SQLiteDatabase.open(dataDirectory: dataDir) }

        var spoolFiles: [String] { Spool.spoolFiles(in: spoolDir) }

        var spoolFileSizes: [Int] {
            spoolFiles.map { ((try? FileManager.default.attributesOfItem(atPath: spoolDir + "/" + $0))?[.size] as? Int) ?? 0 }
        }
    }

    /// A body that sends `first` bytes, then waits (holding the upload open) until the connection dies.
    struct StalledBody: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let first: [UInt8]
        struct Iterator: AsyncIteratorProtocol {
            var sent = false
            let first: [UInt8]
            mutating func next() async throws -> ByteBuffer? {
                if !sent {
                    sent = true
                    return ByteBuffer(bytes: first)
                }
                try await Task.sleep(for: .seconds(60))
                return nil
            }
        }
        func makeAsyncIterator() -> Iterator { Iterator(first: first) }
    }

    /// Stops a process by PID (SIGTERM unless told) and returns its exit status.
    static func stop(_ process: BackgroundProcess, signal: Int32 = SIGTERM) async throws -> Int32 {
        try await onOwnThread { process.stop(signal: signal) }
    }

    static func put(_ url: String, _ bytes: [UInt8]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: "audio/mpeg")
        request.body = .bytes(ByteBuffer(bytes: bytes))
        let response = try await TestServers.http.execute(request, timeout: .seconds(120))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    @Test func killedMidStoreAndMidReplayEveryAcknowledgedRecordingArrives() async throws {
        let setup = try Setup()
        let token = try await setup.addAccount()
        let base = "http://127.0.0.1:\(setup.port)/k/\(token)/\(setup.accountId)"
        var gateway = try await setup.serve()

        // S3 is down: an acknowledged store (202) and a store killed in the middle of its body.
        let acknowledged = TestEnvironment.randomBytes(64 * 1024 * 1024 + 3, seed: 91)
        #expect(try await Self.put(base + "/acked.mp3", acknowledged) == 202)
        #expect(setup.spoolFiles.count == 1)
        let stalled = Task {
            var request = HTTPClientRequest(url: base + "/killed.mp3")
            request.method = .PUT
            request.body = .stream(
                StalledBody(first: TestEnvironment.randomBytes(3 * 1024 * 1024, seed: 92)),
                length: .known(Int64(20 * 1024 * 1024))
            )
            return try await TestServers.http.execute(request, timeout: .seconds(120)).status.code
        }
        // The stalled store is in the middle of its body: its spool file holds the 3 MiB it was sent.
        #expect(try await eventually(20) { setup.spoolFiles.count == 2 && setup.spoolFileSizes.allSatisfy { $0 >= 3 * 1024 * 1024 } })
        let killedStatus = try await Self.stop(gateway, signal: SIGKILL)
        #expect(killedStatus == SIGKILL)
        #expect((try? await stalled.value) == nil, "the killed store must not have been answered")

        // Restart: the unacknowledged file is gone, the acknowledged one is queued and served from the spool.
        gateway = try await setup.serve()
        #expect(setup.spoolFiles.count == 1)
        let listed = try await setup.cli(["queue", "list", "--json"])
        #expect(listed.status == 0, "\(listed.error)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["key"] as? String == "\(setup.accountId)/acked.mp3")
        let fromSpool = try await TestServers.http.execute(HTTPClientRequest(url: base + "/acked.mp3"), timeout: .seconds(60))
        #expect(fromSpool.status.code == 200)
        #expect(Array(try await fromSpool.body.collect(upTo: 128 << 20).readableBytesView) == acknowledged)

        // S3 is back; kill the gateway while it replays.
        try await onOwnThread { try setup.moto.start() }
        let queue = try setup.queue()
        let id = try #require(rows.first?["id"] as? Int)
        #expect(try await eventually(30, every: .milliseconds(5)) { try await queue.upload(Int64(id))?.state != .pending })
        _ = try await Self.stop(gateway, signal: SIGKILL)
        let stateAtKill = try #require(try await queue.upload(Int64(id))?.state)
        #expect(stateAtKill == .uploading, "the kill was meant to land mid-replay")

        // Restart: the interrupted replay runs again; the recording arrives byte-identical, the spool empties.
        gateway = try await setup.serve()
        #expect(try await eventually(60) { try await queue.upload(Int64(id))?.state == .stored })
        #expect(setup.spoolFiles.isEmpty)
        let moto = try SpoolReplayTests.client(for: setup.moto)
        #expect(try await SpoolReplayTests.objectBytes(moto, "\(setup.accountId)/acked.mp3") == acknowledged)
        #expect(try await moto.headObject(key: "\(setup.accountId)/killed.mp3") == nil)
        let stopped = try await Self.stop(gateway)
        #expect(stopped == 0, "\(gateway.output)")
    }

    @Test func operatorCommandsListShowRetryReplayAndDiscard() async throws {
        let setup = try Setup()
        let token = try await setup.addAccount()
        let base = "http://127.0.0.1:\(setup.port)/k/\(token)/\(setup.accountId)"
        let gateway = try await setup.serve()
        let first = TestEnvironment.randomBytes(6 * 1024 * 1024, seed: 93)
        let second = TestEnvironment.randomBytes(50_000, seed: 94)
        #expect(try await Self.put(base + "/one.mp3", first) == 202)
        #expect(try await Self.put(base + "/two.mp3", second) == 202)
        _ = try await Self.stop(gateway)

        let list = try await setup.cli(["queue", "list", "--account", setup.accountId])
        #expect(list.status == 0, "\(list.error)")
        #expect(list.output.contains("\(setup.accountId)/one.mp3") && list.output.contains("\(setup.accountId)/two.mp3"))
        #expect(list.output.contains("2 waiting for S3, 0.0 replays/s, no replay landed in the last 10 s"), "\(list.output)")
        let show = try await setup.cli(["queue", "show", "1"])
        #expect(show.output.contains("state:         pending"), "\(show.output)")
        let retry = try await setup.cli(["queue", "retry", "--account", setup.accountId])
        #expect(retry.output.contains("2 queued uploads due now."), "\(retry.output)")
        #expect(try await setup.cli(["queue", "retry"]).status != 0)

        // S3 is back: the operator replays one upload in the foreground.
        try await onOwnThread { try setup.moto.start() }
        let replay = try await setup.cli(["queue", "replay", "1"])
        #expect(replay.status == 0, "\(replay.output)\(replay.error)")
        #expect(replay.output.contains("1 stored, 0 not stored."))
        #expect(replay.error.contains("\(first.count)/\(first.count) bytes"))
        let moto = try SpoolReplayTests.client(for: setup.moto)
        #expect(try await SpoolReplayTests.objectBytes(moto, "\(setup.accountId)/one.mp3") == first)
        let listed = try await setup.cli(["queue", "list", "--state", "stored"]).output
        #expect(listed.contains("one.mp3"))
        #expect(listed.contains("1 waiting for S3, 0.1 replays/s, empty in about 10 s"), "the rate counts the replay just done: \(listed)")

        // Discarding says what it destroys and needs --yes.
        let refused = try await setup.cli(["queue", "discard", "2"])
        #expect(refused.status != 0)
        #expect(refused.error.contains("this destroys queued upload 2") && refused.error.contains("two.mp3"), "\(refused.error)")
        #expect(setup.spoolFiles.count == 1)
        let discarded = try await setup.cli(["queue", "discard", "2", "--yes"])
        #expect(discarded.status == 0, "\(discarded.error)")
        #expect(setup.spoolFiles.isEmpty)
        #expect(try await setup.queue().upload(2) == nil)
    }
}
