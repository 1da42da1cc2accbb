import Foundation
import TestSupport
import Testing

@testable import Gateway

/// A body that flows gets larger reads for its connection, charged to the flowing reads' share of the budget
/// while the connection is open (NIO keeps the grown read buffer for the connection's life) and given back
/// when it closes; a small store's connection never takes any.
struct FlowingBodyTests {
    /// Sends a PUT of `body` on `connection`; the gateway's answer.
    static func store(_ body: [UInt8], on connection: RawConnection, path: String) async throws -> String {
        try await onOwnThread {
            try connection.send("PUT \(path) HTTP/1.1\r\nHost: g\r\nContent-Length: \(body.count)\r\n\r\n")
            try connection.send(body)
            return connection.receiveResponse(seconds: 60)
        }
    }

    @Test func aFlowingConnectionHoldsItsLargerReadsUntilItCloses() async throws {
        #expect(BodyFlowGate.flowingCharge == GatewayConfig.flowingReadBytes)
        try await TestGateway.with { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let flowing = gateway.runtime.memory.flowingReads
            #expect(flowing.capacity >= GatewayConfig.flowingReadBytes)

            let small = try RawConnection(port: gateway.port)
            let smallAnswer = try await Self.store(Array("hello".utf8), on: small, path: "/k/\(token)/\(id)/small.mp3")
            #expect(smallAnswer.hasPrefix("HTTP/1.1 201"), "\(smallAnswer.prefix(200))")
            #expect(flowing.inUse == 0, "5 bytes never flow")

            let connection = try RawConnection(port: gateway.port)
            let body = TestEnvironment.randomBytes(3 * 1024 * 1024 + 5, seed: 41)
            for round in 0..<2 {
                let answer = try await Self.store(body, on: connection, path: "/k/\(token)/\(id)/flowing-\(round).mp3")
                #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer.prefix(200))")
                #expect(!answer.lowercased().contains("connection: close"), "the connection stays open for the next store")
                #expect(try await TestServers.rclone().headObject(key: "\(id)/flowing-\(round).mp3")?.size == body.count)
                #expect(flowing.inUse == GatewayConfig.flowingReadBytes, "held once by the connection, not once per store")
            }
            connection.close()
            small.close()
            #expect(try await eventually(10) { flowing.inUse == 0 }, "given back when the connection closed")
        }
    }
}
