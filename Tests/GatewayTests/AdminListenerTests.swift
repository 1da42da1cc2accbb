import Foundation
import TestSupport
import Testing

@testable import Gateway

/// The admin listener: `/metrics` (no token, Prometheus text) and the bearer-token API.
struct AdminListenerTests {
    static let adminToken = "admin-token-0123456789-abcdefghij"

    static var config: GatewayConfig {
        var config = SpoolReplayTests.config
        config.adminToken = adminToken
        config.partSizeBytes = 5 * 1024 * 1024
        config.replayBaseDelaySeconds = 600  // the spooled row stays pending while the test looks
        config.replayMaxDelaySeconds = 600
        return config
    }

    /// `name{labels} value` lines of the exposition, keyed by `name{labels}`.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func metricsCountStoresFetchesQueueAndPausedAccountsWithoutSecrets() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let down = TestEnvironment.accountId()
            let downToken = try await gateway.addUnreachableAccount(down)
            let bytes = TestEnvironment.randomBytes(100_000, seed: 101)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/m.mp3", body: bytes).status == 201)
            #expect(try await gateway.send(.GET, "/k/\(token)/\(id)/m.mp3").status == 302)
            // Two parts of a multipart upload (5 MiB parts in this configuration).
            let big = TestEnvironment.randomBytes(6 * 1024 * 1024, seed: 102)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/big.mp3", body: big).status == 201)
            #expect(try await gateway.send(.PUT, "/k/\(downToken)/\(down)/m.mp3", body: bytes).status == 202)
            #expect(try await gateway.send(.PUT, "/k/rg_\(String(repeating: "A", count: 43))/x.mp3", body: [1]).status == 401)
            _ = try await gateway.runtime.storage.pause(
                accountId: down,
                reason: "test",
                registryRevision: nil,
                probes: 0,
                nextProbeAt: .distantFuture,
                now: Date()
            )

            let answer = try await gateway.send(.GET, "http://127.0.0.1:\(gateway.adminPort)/metrics")
            #expect(answer.status == 200)
            #expect(answer.header("content-type")?.hasPrefix("text/plain") ?? false)
            let samples = Self.samples(answer.text)
            #expect(samples[#"rg_stores_total{result="stored"}"#] == 2)
            #expect(samples[#"rg_stores_total{result="spooled"}"#] == 1)
            #expect(samples[#"rg_stores_total{result="refused"}"#] == 1)
            #expect(samples["rg_stored_bytes_total"] == Double(bytes.count + big.count))
            #expect(samples[#"rg_s3_operation_duration_seconds_count{operation="UploadPart"}"#] == 2, "part latency")
            #expect(samples[#"rg_s3_operation_duration_seconds_count{operation="CompleteMultipartUpload"}"#] == 1)
            #expect(samples[#"rg_fetches_total{answer="redirect"}"#] == 1)
            #expect(samples[#"rg_queue_uploads{state="pending"}"#] == 1)
            #expect((samples["rg_queue_oldest_pending_age_seconds"] ?? -1) >= 0)
            #expect(samples["rg_queue_depth"] == 1)
            #expect(samples["rg_replays_per_second"] == 0)
            #expect(samples["rg_queue_drain_seconds_estimate"]?.isNaN == true, "a row waits and none landed: no estimate")
            #expect((samples["rg_spool_bytes"] ?? 0) > Double(bytes.count))
            #expect(samples["rg_memory_budget_capacity_bytes"] == Double(gateway.runtime.memory.capacity))
            #expect((samples["rg_sqlite_memory_bytes"] ?? 0) > 0, "SQLite's page caches and statements")
            #expect(samples[#"rg_account_replays_paused{account_id="\#(down)"}"#] == 1)
            #expect(samples[#"rg_account_replays_paused{account_id="\#(id)"}"#] == 0)
            // The unreachable account's PutObject: retried once (the test policy allows 2 attempts), then failed.
            let refusedCode = try #require(
                samples.keys.first { $0.hasPrefix("rg_s3_errors_total{") && $0.contains(#"operation="PutObject""#) },
                "\(answer.text)"
            )
            #expect(samples[refusedCode] == 1)
            #expect(samples[refusedCode.replacingOccurrences(of: "rg_s3_errors_total", with: "rg_s3_retries_total")] == 1)
            #expect(samples[#"rg_s3_operation_duration_seconds_count{operation="PutObject"}"#] == 2)
            #expect(answer.text.contains("rg_store_duration_seconds_bucket"))
            for secret in [TestGateway.unreachableSecret, token, downToken, try TestServers.environment("RG_RCLONE_SECRET_KEY")] {
                #expect(!answer.text.contains(secret))
            }
            // Not on the KAZOO-facing port.
            #expect(try await gateway.send(.GET, "/metrics").status != 200)
        }
    }

    @Test func theApiNeedsTheAdminTokenAndAnswersStatus() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let base = "http://127.0.0.1:\(gateway.adminPort)"
            #expect(try await gateway.send(.GET, base + "/api/status").status == 401)
            #expect(try await gateway.send(.GET, base + "/api/status", headers: [("Authorization", "Bearer wrong-token-0123456789")]).status == 401)
            let status = try await gateway.send(.GET, base + "/api/status", headers: [("Authorization", "Bearer \(Self.adminToken)")])
            #expect(status.status == 200)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any])
            #expect(object["version"] as? String == GatewayVersion.current)
            #expect(object["uptime_seconds"] is Int)
            let budget = try #require(object["memory_budget"] as? [String: Int])
            #expect(budget["capacity_bytes"] == gateway.runtime.memory.capacity)
            #expect(!status.text.contains(Self.adminToken))
        }
        // Without a configured token the API is closed; /metrics still answers.
        try await TestGateway.with { gateway in
            let base = "http://127.0.0.1:\(gateway.adminPort)"
            let closed = try await gateway.send(.GET, base + "/api/status", headers: [("Authorization", "Bearer anything-0123456789abcdef")])
            #expect(closed.status == 401)
            #expect(closed.text.contains("admin_token"))
            #expect(try await gateway.send(.GET, base + "/metrics").status == 200)
        }
    }
}
