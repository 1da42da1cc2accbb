import Foundation
import TestSupport
import Testing

@testable import Gateway

/// A body that flows gets larger reads, charged to the part buffers' budget while its connection is open;
/// that connection closes after the answer (NIO would keep the grown read buffer for the connection's life),
/// and a small store's connection stays open for the next request.
struct FlowingBodyTests {
    /// A PUT of `body` on a connection of its own; everything the gateway sent until it closed (or 3 s of quiet).
    static func store(_ body: [UInt8], port: Int, path: String) async throws -> (answer: String, closed: Bool) {
        try await onOwnThread {
            let connection = try RawConnection(port: port)
            defer { connection.close() }
            try connection.send("PUT \(path) HTTP/1.1\r\nHost: g\r\nContent-Length: \(body.count)\r\n\r\n")
            try connection.send(body)
            let started = ContinuousClock.now
            let answer = connection.receiveUntilClosed(seconds: 3)
            return (answer, ContinuousClock.now - started < .seconds(3))
        }
    }

    @Test func aFlowingStoreClosesItsConnectionAndGivesItsReadMemoryBack() async throws {
        try await TestGateway.with { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let body = TestEnvironment.randomBytes(3 * 1024 * 1024 + 5, seed: 41)
            let big = try await Self.store(body, port: gateway.port, path: "/k/\(token)/\(id)/flowing.mp3")
            #expect(big.answer.hasPrefix("HTTP/1.1 201"), "\(big.answer.prefix(200))")
            #expect(big.answer.lowercased().contains("connection: close"))
            #expect(big.closed, "the gateway closed the connection after the answer")
            #expect(try await TestServers.rclone().headObject(key: "\(id)/flowing.mp3")?.size == body.count)
            // The larger reads' charge goes back with the connection.
            #expect(try await eventually(10) { gateway.runtime.memory.parts.inUse == 0 })

            let small = try await Self.store(Array("hello".utf8), port: gateway.port, path: "/k/\(token)/\(id)/small.mp3")
            #expect(small.answer.hasPrefix("HTTP/1.1 201"), "\(small.answer.prefix(200))")
            #expect(!small.answer.lowercased().contains("connection: close"))
            #expect(!small.closed, "a small store's connection stays open")
        }
    }
}
