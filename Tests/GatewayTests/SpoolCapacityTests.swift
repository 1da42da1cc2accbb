import Foundation
import S3
import Spool
import TestSupport
import Testing

@testable import Gateway

/// A spool that cannot be written (a full filesystem, the quota) costs only the safety net: healthy S3
/// still takes stores (201), and with S3 down too the answer is 503 — nothing is acknowledged.
@Suite(.serialized)
struct SpoolCapacityTests {
    /// A 4 MiB tmpfs, mounted for the test and unmounted after it (the test command runs as root).
    static func withSmallFilesystem(_ body: (String) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "rg-tmpfs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mounted = try await onOwnThread { try ChildProcess.run("mount", ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", directory]) }
        try #require(mounted.status == 0, "mounting a tmpfs needs root: \(mounted.error)")
        do {
            try await body(directory)
        } catch {
            _ = try? await onOwnThread { try ChildProcess.run("umount", [directory]) }
            throw error
        }
        let unmounted = try await onOwnThread { try ChildProcess.run("umount", [directory]) }
        #expect(unmounted.status == 0, "\(unmounted.error)")
    }

    /// Stores on a healthy account (rclone) and on one whose S3 is down (nothing listens on its port).
    static func checkStores(_ config: GatewayConfig, spoolDirectory: String) async throws {
        try await TestGateway.with(config: config) { gateway in
            let healthy = TestEnvironment.accountId()
            let down = TestEnvironment.accountId()
            let healthyToken = try await gateway.addRcloneAccount(healthy)
            let downToken = try await gateway.addUnreachableAccount(down)
            let big = TestEnvironment.randomBytes(9 * 1024 * 1024, seed: 81)

            // Healthy S3: stored, although the spool ran out of room mid-body.
            let stored = try await gateway.send(.PUT, "/k/\(healthyToken)/\(healthy)/big.mp3", body: big)
            #expect(stored.status == 201, "\(stored.text)")
            #expect(gateway.log.all.contains { $0.contains("spooling stopped") })

            // S3 down as well: not acknowledged, nothing queued, nothing left in the spool.
            let refused = try await gateway.send(.PUT, "/k/\(downToken)/\(down)/big.mp3", body: big)
            #expect(refused.status == 503, "\(refused.text)")
            #expect(try await gateway.runtime.ledger.uploads().isEmpty)
            #expect(Spool.spoolFiles(in: spoolDirectory).isEmpty)

            // What fits is still spooled and acknowledged.
            let small = TestEnvironment.randomBytes(100_000, seed: 82)
            let spooled = try await gateway.send(.PUT, "/k/\(downToken)/\(down)/small.mp3", body: small)
            #expect(spooled.status == 202, "\(spooled.text)")
            #expect(Spool.spoolFiles(in: spoolDirectory).count == 1)
        }
    }

    @Test func aFullFilesystemOnlyCostsTheSafetyNet() async throws {
        try await Self.withSmallFilesystem { directory in
            var config = SpoolReplayTests.config
            config.spoolDir = directory
            config.replayBaseDelaySeconds = 600  // the spooled row stays put while the test looks
            config.replayMaxDelaySeconds = 600
            try await Self.checkStores(config, spoolDirectory: directory)
        }
    }

    @Test func theQuotaOnlyCostsTheSafetyNet() async throws {
        var config = SpoolReplayTests.config
        let directory = NSTemporaryDirectory() + "rg-quota-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        config.spoolDir = directory
        config.spoolQuotaBytes = 2 * 1024 * 1024
        config.replayBaseDelaySeconds = 600
        config.replayMaxDelaySeconds = 600
        try await Self.checkStores(config, spoolDirectory: directory)
    }
}
