import AsyncHTTPClient
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

    /// The real executable with `log_format: json`: every line is one JSON object; a store's lines (the S3
    /// client's retries included) share its request id, a replay's carry its queue id; no secret, token,
    /// master key or presigned signature is written.
    @Test func jsonLinesFromTheRealExecutableCarryRequestIdsAndNoSecret() async throws {
        let setup = try CrashSafetyTests.Setup(moreConfig: #", "log_format": "json", "log_level": "info""#)
        let token = try await setup.addAccount()
        let gateway = try await setup.serve()
        let base = "http://127.0.0.1:\(setup.port)/k/\(token)/\(setup.accountId)"
        // S3 is down (the private moto is not started): retried, then spooled and acknowledged.
        #expect(try await CrashSafetyTests.put(base + "/json-log.mp3", TestEnvironment.randomBytes(50_000, seed: 9)) == 202)
        try await onOwnThread { try setup.moto.start() }
        let queue = try setup.queue()
        #expect(try await eventually(30) { try await queue.uploads(state: .stored).count == 1 })
        var request = HTTPClientRequest(url: base + "/json-log.mp3")
        request.method = .GET
        let fetched = try await TestServers.http.execute(request, timeout: .seconds(30))
        #expect(fetched.status.code == 302)
        let signature = try #require(
            fetched.headers.first(name: "location")?.split(separator: "&").first { $0.hasPrefix("X-Amz-Signature=") }?.dropFirst(16)
        )
        #expect(try await CrashSafetyTests.stop(gateway) == 0)

        let lines = gateway.output.split(separator: "\n").map(String.init)
        var objects: [[String: String]] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object != nil, "not a JSON line: \(line)")
            if let object {
                #expect(object["time"] != nil && object["level"] != nil && object["message"] != nil)
                objects.append(object)
            }
        }
        let spooled = try #require(objects.first { $0["message"]?.contains("spooled for replay") == true }, "\(lines)")
        let requestId = try #require(spooled["hb.request.id"])
        #expect(spooled["account_id"] == setup.accountId)
        let retry = try #require(objects.first { $0["message"] == "retrying" })
        #expect(retry["hb.request.id"] == requestId && retry["account_id"] == setup.accountId, "\(retry)")
        let replayed = try #require(objects.first { $0["message"] == "replayed" })
        #expect(replayed["queue_id"] != nil && replayed["account_id"] == setup.accountId)
        for line in lines {
            for secret in [token, "private-moto-secret", setup.masterKey, String(signature)] {
                #expect(!line.contains(secret))
            }
        }
    }
}
