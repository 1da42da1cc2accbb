import Foundation
import S3
import TestSupport
import Testing

@testable import Gateway

/// `verify` against moto with IAM enforced: the least-privilege user passes every check (delete
/// denied), an over-privileged one gets the WARN, a wrong secret fails — through the real executable.
struct VerifyTests {
    static func statuses(_ lines: [ConnectionCheck.Line]) -> [String: ConnectionCheck.Status] {
        Dictionary(lines.map { ($0.check, $0.status) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func leastPrivilegePassesEveryCheckAndBroadCredentialsAreWarned() async throws {
        try await TestGateway.with { gateway in
            let least = TestEnvironment.accountId()
            let broad = TestEnvironment.accountId()
            _ = try await gateway.addMotoAccount(least)
            _ = try await gateway.addMotoAccount(broad) {
                $0.accessKeyId = try? TestServers.environment("RG_MOTO_BROAD_ACCESS_KEY")
                $0.secretAccessKey = try? TestServers.environment("RG_MOTO_BROAD_SECRET_KEY")
            }
            let leastLines = try await #require(try gateway.runtime.connectionCheck(accountId: least)).run()
            #expect(leastLines.map(\.check) == ["endpoint", "clock", "region", "put", "get", "list", "delete"])
            #expect(leastLines.allSatisfy { $0.status == .pass }, "\(leastLines.map(\.text))")
            #expect(leastLines.last?.message.contains("denied") ?? false)

            let broadLines = try await #require(try gateway.runtime.connectionCheck(accountId: broad)).run()
            #expect(Self.statuses(broadLines)["delete"] == .warn, "\(broadLines.map(\.text))")
            #expect(broadLines.last?.message.contains("broader than needed") ?? false)
            #expect(ConnectionCheck.passed(broadLines), "a WARN is not a failure")
        }
    }

    @Test func theCommandExitsNonZeroOnAFailureAndNeverPrintsTheSecret() async throws {
        try await TestGateway.with { gateway in
            let good = TestEnvironment.accountId()
            let bad = TestEnvironment.accountId()
            _ = try await gateway.addMotoAccount(good)
            _ = try await gateway.addMotoAccount(bad) { $0.secretAccessKey = "not-the-secret-0123456789abcdefghij" }
            let config = try SpoolReplayTests.writeConfig(for: gateway)
            let environment = [MasterKey.environmentVariable: gateway.masterKey]
            let passed = try await onOwnThread { try CommandLineTests.run(["verify", good, "--config", config], environment: environment) }
            #expect(passed.status == 0, "\(passed.output)\(passed.error)")
            #expect(passed.output.split(separator: "\n").count == 7)
            #expect(passed.output.split(separator: "\n").allSatisfy { $0.hasPrefix("PASS") }, "\(passed.output)")

            let failed = try await onOwnThread { try CommandLineTests.run(["verify", bad, "--config", config], environment: environment) }
            #expect(failed.status == 1)
            #expect(failed.output.contains("FAIL  put:") && failed.output.contains("SignatureDoesNotMatch"), "\(failed.output)")
            let secret = try TestServers.environment("RG_MOTO_SECRET_KEY")
            #expect(!failed.output.contains("not-the-secret") && !passed.output.contains(secret))

            let unknown = try await onOwnThread {
                try CommandLineTests.run(["verify", TestEnvironment.accountId(), "--config", config], environment: environment)
            }
            #expect(unknown.status == 1)
            #expect(unknown.error.contains("no account"))
        }
    }

    @Test func aClockMoreThanFifteenMinutesOffFails() async throws {
        try await TestGateway.with { gateway in
            let id = TestEnvironment.accountId()
            _ = try await gateway.addMotoAccount(id)
            let check = try #require(try gateway.runtime.connectionCheck(accountId: id))
            // The same check, comparing S3's Date header with a local clock 20 minutes fast.
            let skewed = ConnectionCheck(client: check.client, region: check.region, keyPrefix: check.keyPrefix) {
                Date().addingTimeInterval(20 * 60)
            }
            let lines = await skewed.run()
            #expect(Self.statuses(lines)["clock"] == .fail, "\(lines.map(\.text))")
            #expect(lines.first { $0.check == "clock" }?.message.contains("NTP") ?? false)
            #expect(!ConnectionCheck.passed(lines))
        }
    }

    @Test func anUnreachableEndpointFailsFirstAndSkipsTheRest() async throws {
        try await TestGateway.with { gateway in
            let id = TestEnvironment.accountId()
            _ = try await gateway.addUnreachableAccount(id)
            let lines = try await #require(try gateway.runtime.connectionCheck(accountId: id)).run()
            #expect(lines.first?.status == .fail)
            #expect(lines.first?.message.contains("check the host name") ?? false)
            #expect(lines.dropFirst().allSatisfy { $0.status == .skip })
            #expect(!ConnectionCheck.passed(lines))
        }
    }
}
