import Foundation
import TestSupport
import Testing

@testable import Gateway

/// The lines logged for a request (by the routes and by the S3 client working for them) carry its
/// request id and its account, never a secret.
struct RequestLogTests {
    @Test func requestLinesCarryTheRequestIdAndTheAccount() async throws {
        try await TestGateway.with(config: SpoolReplayTests.config) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(id)
            let down = TestEnvironment.accountId()
            let downToken = try await gateway.addUnreachableAccount(down)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/log.mp3", body: [1, 2, 3]).status == 201)
            #expect(try await gateway.send(.PUT, "/k/\(downToken)/\(down)/log.mp3", body: [4, 5, 6]).status == 202)
            // A multipart body without a file part: refused after the account is known.
            let onlyJSON = Array("--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b--\r\n".utf8)
            let malformed = try await gateway.send(
                .PUT,
                "/k/\(token)/\(id)/malformed.mp3",
                body: onlyJSON,
                headers: [("Content-Type", "multipart/form-data; boundary=b")]
            )
            #expect(malformed.status == 400)
            #expect(try await gateway.send(.PUT, "/k/\(token)/a/../b.mp3", body: [1]).status == 400)

            let lines = gateway.log.all
            let stored = try #require(lines.first { $0.contains(" stored ") && $0.contains("key=\(id)/log.mp3") })
            let spooled = try #require(lines.first { $0.contains("spooled for replay") })
            let refused = try #require(lines.first { $0.contains(" refused ") && $0.contains("code=malformed_body") })
            // A path refused while the token is checked is logged before the account is known: request id only.
            let unsafePath = try #require(lines.first { $0.contains(" refused ") && $0.contains("code=invalid_path") })
            #expect(unsafePath.contains("hb.request.id="))
            var ids: [String] = []
            for (line, account) in [(stored, id), (spooled, down), (refused, id)] {
                #expect(line.contains("account_id=\(account)"), "\(line)")
                let requestId = try #require(line.split(separator: " ").first { $0.hasPrefix("hb.request.id=") }, "\(line)")
                ids.append(String(requestId))
            }
            #expect(Set(ids).count == 3, "each request has its own id")
            // The S3 client's retry of the spooled store, logged inside the client, carries that request's id.
            let retry = try #require(lines.first { $0.contains(" retrying ") && $0.contains("account_id=\(down)") })
            #expect(retry.contains(ids[1]), "\(retry)")
            #expect(!ids.contains { unsafePath.contains($0) })
            for line in lines {
                #expect(!line.contains(TestGateway.unreachableSecret) && !line.contains(token) && !line.contains(downToken))
            }
        }
    }
}
