import Foundation
import TestSupport
import Testing

@testable import Gateway

/// The limits a store meets, with their answers and metrics: no slot in time (503 with Retry-After,
/// before `100 Continue`, so the body is never sent), a body that goes quiet (408, nothing stored,
/// the connection closed), and `Expect: 100-continue` still answered once a store is admitted.
@Suite(.serialized)
struct StoreLimitTests {
    /// One store slot, 1 s to get it; `idleSeconds` before a quiet body is dropped.
    static func config(idleSeconds: Int) -> GatewayConfig {
        var config = TestGateway.config
        config.maxConcurrentStores = 1
        config.admissionTimeoutSeconds = 1
        config.bodyIdleTimeoutSeconds = idleSeconds
        return config
    }

    /// A store that sends its head and 10 bytes of 1,000, then nothing.
    static func quietStore(port: Int, path: String) async throws -> RawConnection {
        try await onOwnThread {
            let connection = try RawConnection(port: port)
            try connection.send("PUT \(path) HTTP/1.1\r\nHost: g\r\nContent-Length: 1000\r\n\r\n0123456789")
            return connection
        }
    }

    static func metrics(_ gateway: TestGateway) async throws -> [String: Double] {
        AdminListenerTests.samples(try await gateway.send(.GET, "http://127.0.0.1:\(gateway.adminPort)/metrics").text)
    }

    @Test func aStoreWithNoRoomInTimeIsAnswered503BeforeItsBody() async throws {
        // The quiet store is not dropped during the test (idle 60 s): nothing but the time limit can answer the other.
        try await TestGateway.with(config: Self.config(idleSeconds: 60)) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let port = gateway.port
            let quiet = try await Self.quietStore(port: port, path: "/k/\(token)/\(id)/quiet.mp3")
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 1 }, "the quiet store holds the slot")
            // No slot within admission_timeout_seconds: 503 with Retry-After, and curl never sends the body.
            let started = ContinuousClock.now
            let busy = try await onOwnThread {
                try Curl.run([
                    "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", "hello", "--write-out", "%{http_code} %header{retry-after}",
                    "--output", "/dev/null", "--expect100-timeout", "30", "http://127.0.0.1:\(port)/k/\(token)/\(id)/busy.mp3",
                ])
            }
            #expect(busy.output == "503 5", "\(busy.output) \(busy.error)")
            #expect(ContinuousClock.now - started >= .milliseconds(900))
            #expect(try await TestServers.rclone().headObject(key: "\(id)/busy.mp3") == nil)
            // The quiet client goes away: its slot is free again, and a store with Expect: 100-continue goes through.
            quiet.close()
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 0 })
            let stored = try await onOwnThread {
                try Curl.request([
                    "-X", "PUT", "-H", "Expect: 100-continue", "--data-binary", "hello", "http://127.0.0.1:\(port)/k/\(token)/\(id)/ok.mp3",
                ])
            }
            #expect(stored.status == 201, "\(stored.text)")
            let metrics = try await Self.metrics(gateway)
            #expect(metrics[#"rg_store_limits_total{limit="admission_timeout"}"#] == 1)
            #expect(metrics["rg_stores_max_concurrent"] == 1)
            #expect(metrics["rg_stores_in_progress"] == 0)
        }
    }

    /// A fetch whose bytes pass through the gateway (proxied: the request has an Authorization header) holds a
    /// slot while they stream, and finds none while a quiet store holds the only one; a redirect needs none.
    @Test func aStreamedFetchHoldsASlotARedirectDoesNot() async throws {
        try await TestGateway.with(config: Self.config(idleSeconds: 60)) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let body = TestEnvironment.randomBytes(300_000, seed: 9)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/kept.mp3", body: body).status == 201)
            let proxied = try await gateway.send(.GET, "/k/\(token)/\(id)/kept.mp3", headers: [("Authorization", "Basic eDp5")])
            #expect(proxied.status == 200 && proxied.body == body)
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 0 }, "given back once the body was written")

            let quiet = try await Self.quietStore(port: gateway.port, path: "/k/\(token)/\(id)/quiet.mp3")
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 1 })
            let busy = try await gateway.send(.GET, "/k/\(token)/\(id)/kept.mp3", headers: [("Authorization", "Basic eDp5")])
            #expect(busy.status == 503 && busy.header("retry-after") == "5", "\(busy.text)")
            #expect(try await gateway.send(.GET, "/k/\(token)/\(id)/kept.mp3").status == 302, "a redirect streams nothing")
            quiet.close()
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 0 })
            #expect(try await gateway.send(.GET, "/k/\(token)/\(id)/kept.mp3", headers: [("Authorization", "Basic eDp5")]).body == body)
        }
    }

    @Test func aBodyThatGoesQuietIsDropped408() async throws {
        try await TestGateway.with(config: Self.config(idleSeconds: 2)) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let quiet = try await Self.quietStore(port: gateway.port, path: "/k/\(token)/\(id)/quiet.mp3")
            // Dropped after body_idle_timeout_seconds: 408, connection closed, nothing stored, the slot free.
            let answer = try await onOwnThread { quiet.receiveUntilClosed(seconds: 30) }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains("body_idle") && answer.lowercased().contains("connection: close"), "\(answer)")
            #expect(try await TestServers.rclone().headObject(key: "\(id)/quiet.mp3") == nil)
            #expect(gateway.spoolFiles.isEmpty)
            #expect(try await eventually(10) { gateway.runtime.memory.storeSlots.inUse == 0 })
            #expect(try await Self.metrics(gateway)[#"rg_store_limits_total{limit="body_idle"}"#] == 1)
            #expect(gateway.log.all.joined(separator: "\n").contains("store dropped: the body sent nothing for 2 s"))
        }
    }

    @Test func connectionsBeyondTheLimitWaitUntilOthersClose() async throws {
        var config = TestGateway.config
        config.maxConnections = 2
        try await TestGateway.with(config: config) { gateway in
            let port = gateway.port
            let first = try await onOwnThread { try RawConnection(port: port) }
            let second = try await onOwnThread { try RawConnection(port: port) }
            #expect(try await eventually(10) { gateway.runtime.memory.connections.openConnections == 2 })
            // At the limit an answer closes its connection, keep-alive or not: idle connections must not hold the places.
            let atLimit = try await onOwnThread {
                try second.send("GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n")
                return second.receiveUntilClosed(seconds: 10)
            }
            #expect(atLimit.hasPrefix("HTTP/1.1 200") && atLimit.lowercased().contains("connection: close"), "\(atLimit)")
            #expect(try await eventually(10) { gateway.runtime.memory.connections.openConnections == 1 })
            let replacement = try await onOwnThread { try RawConnection(port: port) }
            #expect(try await eventually(10) { gateway.runtime.memory.connections.openConnections == 2 })
            // A third connects (the kernel's backlog takes it) and asks, but is not accepted...
            let third = try await onOwnThread {
                let connection = try RawConnection(port: port)
                try connection.send("GET /healthz HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")
                return connection
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(gateway.runtime.memory.connections.openConnections == 2)
            let metrics = try await Self.metrics(gateway)
            #expect(metrics["rg_connections_open"] == 2 && metrics["rg_connections_max"] == 2)
            // ...until one of the first two closes.
            first.close()
            let answer = try await onOwnThread { third.receiveUntilClosed(seconds: 10) }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            second.close()
            replacement.close()
        }
    }
}
