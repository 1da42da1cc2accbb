import Foundation
import NIOConcurrencyHelpers
import NIOCore
import S3
import TestSupport
import Testing

@testable import Gateway

/// The real `serve` draining a backlog after an S3 outage: `rclone serve s3` behind a TCP proxy that the
/// test kills (S3 cut off) and starts again (S3 back), stores of 1 MiB from this process.
@Suite(.serialized)
struct ReplayDrainTests {
    static let mebibyte = 1024 * 1024

    /// A `serve` whose accounts reach rclone through the proxy; the proxy can be cut and restored.
    final class Outage: Sendable {
        let setup: CrashSafetyTests.Setup
        let proxyPort = BackgroundProcess.freePort()
        let rclonePort: Int
        let proxy = NIOLockedValueBox<BackgroundProcess?>(nil)
        let serve: BackgroundProcess
        /// Token by account id.
        let tokens: [String: String]

        /// - Parameter accounts: account id → whether it gets the right secret.
        init(accounts: [(id: String, rightSecret: Bool)]) async throws {
            setup = try CrashSafetyTests.Setup()
            rclonePort = try #require(URL(string: try TestServers.environment("RG_RCLONE_ENDPOINT"))?.port)
            var tokens: [String: String] = [:]
            for account in accounts {
                tokens[account.id] = try await setup.addAccount(
                    bucket: try TestServers.environment("RG_RCLONE_BUCKET"),
                    host: "127.0.0.1:\(proxyPort)",
                    accessKeyId: try TestServers.environment("RG_RCLONE_ACCESS_KEY"),
                    secret: account.rightSecret ? try TestServers.environment("RG_RCLONE_SECRET_KEY") : "not-the-secret-0123456789abcdefghij",
                    accountId: account.id
                )
            }
            self.tokens = tokens
            serve = try await setup.serve()
            try restoreS3()
        }

        deinit {
            _ = proxy.withLockedValue { $0 }?.stop()
            _ = serve.stop()
        }

        func cutS3() {
            let running = proxy.withLockedValue { proxy in
                defer { proxy = nil }
                return proxy
            }
            _ = running?.stop()
        }

        func restoreS3() throws {
            let started = try BackgroundProcess(
                "python3",
                [TestServers.script("throttle-proxy.py"), "\(proxyPort)", "\(rclonePort)", "0"]
            )
            proxy.withLockedValue { $0 = started }
            try #require(BackgroundProcess.waitForPort(proxyPort))
        }

        /// `count` stores of 1 MiB for `accountId`, each body its own (its name in the first bytes).
        func stores(_ accountId: String, _ prefix: String, _ count: Int) throws -> [(url: String, body: ByteBuffer)] {
            let token = try #require(tokens[accountId])
            let random = TestEnvironment.randomBytes(ReplayDrainTests.mebibyte, seed: 1601)
            return (0..<count).map { index in
                let name = "\(prefix)-\(index).mp3"
                var body = ByteBuffer(bytes: random)
                body.setString(name, at: 0)
                return ("http://127.0.0.1:\(setup.port)/k/\(token)/\(accountId)/\(name)", body)
            }
        }

        /// Rows of `accountId` not yet stored.
        func waiting(_ accountId: String) async throws -> Int {
            try await setup.queue().uploads(accountId: accountId).count { $0.state != .stored }
        }

        func attempts(_ accountId: String) async throws -> Int {
            try await setup.queue().uploads(accountId: accountId).map(\.attempts).reduce(0, +)
        }

        /// Waits until none of `accounts`' rows waits; the seconds it took.
        func drained(_ accounts: [String], within seconds: Double = 180) async throws -> Double {
            let start = ContinuousClock.now
            let done = try await eventually(seconds, every: .milliseconds(20)) {
                for account in accounts where try await waiting(account) > 0 { return false }
                return true
            }
            try #require(done, "not drained in \(seconds) s")
            let took = ContinuousClock.now - start
            return Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
        }
    }

    /// Every store's object in rclone holds exactly its body.
    static func expectLanded(_ stores: [(url: String, body: ByteBuffer)]) async throws {
        let rclone = try TestServers.rclone()
        var different: [String] = []
        for store in stores {
            // The object key is ACCOUNT/NAME: the URL's last two segments.
            let key = store.url.split(separator: "/").suffix(2).joined(separator: "/")
            let object = try await rclone.getObject(key: key)
            if try await object?.body.collect(upTo: store.body.readableBytes + 1) != store.body { different.append(key) }
        }
        #expect(different.isEmpty, "not in S3 byte for byte: \(different.prefix(5))")
    }

    @Test func aBacklogDrainsAtLiveSpeedFairlyWhileAWrongSecretStaysPausedUntilFixed() async throws {
        let (a, b, wrong) = (TestEnvironment.accountId(), TestEnvironment.accountId(), TestEnvironment.accountId())
        let outage = try await Outage(accounts: [(a, true), (b, true), (wrong, false)])
        let load = StoreLoad(concurrency: 16)

        // The same 200 stores, live: the pace to beat.
        let live = try await load.put(try outage.stores(a, "live", 100) + outage.stores(b, "live", 100))
        #expect(live.statuses.allSatisfy { $0 == 201 }, "\(Set(live.statuses))")

        outage.cutS3()
        let (fromA, fromB, refused) = (
            try outage.stores(a, "outage", 100), try outage.stores(b, "outage", 100), try outage.stores(wrong, "outage", 100)
        )
        let good = fromA + fromB
        let spooled = try await load.put((0..<100).flatMap { [fromA[$0], fromB[$0], refused[$0]] })
        #expect(spooled.statuses.allSatisfy { $0 == 202 }, "\(Set(spooled.statuses))")
        // Every row is tried and fails while S3 is away, so its backoff grows.
        #expect(
            try await eventually {
                let (tried, triedWrong) = (try await outage.attempts(a), try await outage.attempts(wrong))
                return tried >= 100 && triedWrong >= 100
            }
        )

        try outage.restoreS3()
        let drain = try await outage.drained([a, b])
        print("200 × 1 MiB: live \(live.elapsed) s (\(live.perSecond)/s); the same as a backlog drained in \(drain) s after S3 came back")
        #expect(drain <= 2 * live.elapsed, "drained in \(drain) s; live took \(live.elapsed) s")
        try await Self.expectLanded(good)

        // The wrong secret's rows stay queued and paused: once paused, one attempt per backoff (a probe),
        // besides the attempts under way when the pause began (its share of slots at most).
        let paused = try #require(try await outage.setup.queue().accountPauses()[wrong])
        #expect(paused.reason.contains("SignatureDoesNotMatch"))
        let attemptsPaused = try await outage.attempts(wrong)
        try await Task.sleep(for: .seconds(4))
        let pause = try #require(try await outage.setup.queue().accountPauses()[wrong])
        let spent = try await outage.attempts(wrong) - attemptsPaused
        let probes = pause.probes - paused.probes
        print("the wrong secret's account, paused: \(spent) attempts in 4 s, \(probes) of them failed probes")
        #expect(spent <= GatewayConfig().replayPerAccount + probes + 1, "\(spent) attempts, \(probes) probes")
        #expect(probes <= 6, "probes at backoff 0.2 s doubling to 1 s (jitter in the upper half): at most 6 in 4 s")
        #expect(try await outage.waiting(wrong) == 100)

        // The operator fixes the secret: its rows drain at once.
        let update = try await outage.setup.cli(
            ["accounts", "update", wrong, "--secret-access-key-stdin"],
            input: try TestServers.environment("RG_RCLONE_SECRET_KEY")
        )
        #expect(update.status == 0, "\(update.error)")
        let fixed = try await outage.drained([wrong])
        print("the fixed account's 100 drained in \(fixed) s")
        #expect(fixed <= live.elapsed + 3, "the fixed account's rows drained in \(fixed) s")
        try await Self.expectLanded(refused)
        #expect(try await outage.setup.queue().accountPauses().isEmpty)
        #expect(outage.serve.output.contains("the account's backlog is empty"))
    }

    @Test func liveStoresKeepTheirLatencyWhileABacklogDrains() async throws {
        let (a, b) = (TestEnvironment.accountId(), TestEnvironment.accountId())
        let outage = try await Outage(accounts: [(a, true), (b, true)])
        let live = StoreLoad(concurrency: 4)
        let quiet = try await live.put(try outage.stores(a, "quiet", 200))
        #expect(quiet.statuses.allSatisfy { $0 == 201 })

        outage.cutS3()
        let backlog = try outage.stores(b, "backlog", 600)
        #expect(try await StoreLoad(concurrency: 16).put(backlog).statuses.allSatisfy { $0 == 202 })
        try outage.restoreS3()
        let during = try await live.put(try outage.stores(a, "during", 200))
        #expect(during.statuses.allSatisfy { $0 == 201 })
        let left = try await outage.waiting(b)
        let drain = try await outage.drained([b])
        let (p99Quiet, p99During) = (quiet.quantile(0.99), during.quantile(0.99))
        for (name, result) in [("quiet", quiet), ("during", during)] {
            print("\(name): " + [0.5, 0.9, 0.99, 1].map { "\(Int(result.quantile($0) * 1000))" }.joined(separator: " / ") + " ms (p50/p90/p99/max)")
        }
        print(
            "live stores p99 \(p99Quiet * 1000) ms without a drain, \(p99During * 1000) ms during one (\(left) of 600 still queued when they ended, drained \(drain) s later)"
        )
        #expect(left > 0, "the drain was over before the live stores ended: nothing was measured")
        #expect(p99During <= 2 * p99Quiet, "p99 \(p99During) s during the drain, \(p99Quiet) s without")
        try await Self.expectLanded(backlog)
    }
}
