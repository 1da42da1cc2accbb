import AsyncHTTPClient
import Foundation
import NIOCore
import S3
import TestSupport
import Testing

@testable import Gateway

#if canImport(Glibc)
import Glibc
#endif

/// Bad input gets a clear error and changes nothing; tenants only ever write their own bucket;
/// no secret or token appears in any answer or log line.
@Suite(.serialized)
struct RefusalTests {
    @Test func anAddressThatKeepsGuessingTokensIsSlowedWhileRightTokensNeverAre() async throws {
        // One more try an hour: however slow the runner, the twenty-first guess finds the budget spent.
        var config = TestGateway.config
        config.guessingRefill = .seconds(3600)
        try await TestGateway.with(config: config) { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            var statuses: [Int] = []
            for guess in 0..<25 {
                let path = "/k/rg_\(String(repeating: "G", count: 40))\(String(format: "%03d", guess))/\(account)/x.mp3"
                statuses.append(try await gateway.send(.PUT, path, body: [1]).status)
            }
            #expect(statuses.prefix(20).allSatisfy { $0 == 401 } && statuses.suffix(5).allSatisfy { $0 == 429 }, "\(statuses)")
            let slowed = try await gateway.send(.PUT, "/k/rg_\(String(repeating: "H", count: 43))/\(account)/x.mp3", body: [1])
            #expect(slowed.status == 429 && slowed.header("retry-after").flatMap(Int.init).map { (1...3600).contains($0) } == true)
            // KAZOO's own stores, with the right token, from the same address: not slowed.
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(account)/right.mp3", body: [1, 2, 3]).status == 201)
            let metrics = try await gateway.send(.GET, "http://127.0.0.1:\(gateway.adminPort)/metrics").text
            #expect(metrics.contains(#"rg_auth_failures_total{answer="401"} 20"#) && metrics.contains(#"rg_auth_failures_total{answer="429"} 6"#))
            // Logged once a minute per address, not per request.
            #expect(gateway.log.all.count { $0.contains("slowed (429)") } == 1)
        }
    }

    @Test func aGuessingBudgetRefillsOverTimeAndIsPerAddress() {
        let guarded = GuessingGuard(burst: 2, refill: .seconds(6))
        let start = ContinuousClock.now
        #expect(guarded.failed(from: "10.0.0.1", now: start) == nil)
        #expect(guarded.failed(from: "10.0.0.1", now: start) == nil)
        #expect(guarded.failed(from: "10.0.0.1", now: start) == GuessingGuard.Verdict(retryAfter: 6, log: true))
        #expect(guarded.failed(from: "10.0.0.1", now: start + .seconds(3)) == GuessingGuard.Verdict(retryAfter: 3, log: false))
        #expect(guarded.isThrottled("10.0.0.1", now: start + .seconds(3)))
        #expect(guarded.failed(from: "10.0.0.2", now: start) == nil, "another address has its own budget")
        #expect(!guarded.isThrottled("10.0.0.1", now: start + .seconds(6)))
        #expect(guarded.failed(from: "10.0.0.1", now: start + .seconds(6)) == nil, "one more try every 6 s")
        #expect(guarded.failed(from: "10.0.0.1", now: start + .seconds(70)) == nil)
        #expect(guarded.failed(from: "10.0.0.1", now: start + .seconds(70)) == nil)
        #expect(guarded.failed(from: "10.0.0.1", now: start + .seconds(70))?.log == true, "a minute on: logged again")
    }

    @Test func wrongTokensOtherAccountsAndUnsafePathsAreRefused() async throws {
        var config = TestGateway.config
        config.maxRequestBytes = 1024 * 1024
        try await TestGateway.with(config: config) { gateway in
            let account = TestEnvironment.accountId()
            let other = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            func put(_ path: String, _ body: [UInt8] = [1, 2, 3]) async throws -> TestGateway.Answer {
                try await gateway.send(.PUT, path, body: body, headers: [("Content-Type", "audio/mpeg")])
            }
            let wrong = try await put("/k/rg_\(String(repeating: "A", count: 43))/\(account)/x.mp3")
            #expect(wrong.status == 401)
            #expect(wrong.header("content-type") == "application/json")
            let parsed = try JSONSerialization.jsonObject(with: Data(wrong.body)) as? [String: [String: String]]
            #expect(parsed?["error"]?["code"] == "unauthorized")
            #expect(try await put("/k/\(account)/x.mp3").status == 401)
            #expect(try await put("/k/").status == 401)
            #expect(try await put("/other").status == 404)

            // A token used for another account's path or query.
            #expect(try await put("/k/\(token)/\(other)/o/d/x.mp3").status == 403)
            #expect(try await put("/k/\(token)/call_recording_1.mp3?account_id=\(other)").status == 403)
            #expect(try await put("/k/\(token)/call_recording_1.mp3?account_id=\(account)").status == 201)

            for path in ["a/../b.mp3", "a//b.mp3", "a/%2e%2e/b.mp3", "a%2Fb.mp3", "a/%0Ab.mp3", String(repeating: "k", count: 1025)] {
                let answer = try await put("/k/\(token)/\(path)")
                #expect(answer.status == 400, "\(path)")
                #expect(answer.text.contains("invalid_path"))
            }
            // AsyncHTTPClient cannot send a path that is not UTF-8 once decoded; curl sends it as it is.
            let port = gateway.port
            let notUTF8 = try await onOwnThread {
                try Curl.run([
                    "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x",
                    "http://127.0.0.1:\(port)/k/\(token)/a/%FF.mp3",
                ])
            }
            #expect(notUTF8.output == "400")
            let large = try await put("/k/\(token)/\(account)/large.mp3", [UInt8](repeating: 7, count: 1024 * 1024 + 1))
            #expect(large.status == 413)
            #expect(try await TestServers.moto().headObject(key: "\(account)/large.mp3") == nil)
            #expect(try await put("/k/\(token)/\(account)/x.mp3").status == 201)

            var disable = AccountInput()
            disable.enabled = false
            try await gateway.runtime.accounts.update(account, disable)
            try await gateway.runtime.reloadAccounts()
            #expect(try await put("/k/\(token)/\(account)/x.mp3").status == 403)
            #expect(try await gateway.send(.DELETE, "/k/\(token)/\(account)/x.mp3").status == 403)

            let rotated = try await gateway.runtime.accounts.rotateToken(account)
            var enable = AccountInput()
            enable.enabled = true
            try await gateway.runtime.accounts.update(account, enable)
            try await gateway.runtime.reloadAccounts()
            #expect(try await put("/k/\(token)/\(account)/x.mp3").status == 401)
            #expect(try await put("/k/\(rotated)/\(account)/x.mp3").status == 201)
            #expect(try await gateway.send(.DELETE, "/k/\(rotated)/\(account)/x.mp3").status == 405)
        }
    }

    /// Sends a request head promising `declared` bytes, then `sent` bytes, then closes the connection.
    static func sendTruncated(port: Int, path: String, declared: Int, sent: Int) throws -> String {
        let head = "PUT \(path) HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: audio/mpeg\r\nContent-Length: \(declared)\r\n\r\n"
        return try sendRaw(port: port, Array(head.utf8) + [UInt8](repeating: 0x55, count: sent))
    }

    /// Writes `bytes` on a new connection, half-closes it, and returns everything the server answered.
    static func sendRaw(port: Int, _ bytes: [UInt8]) throws -> String {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw POSIXError(.EIO) }
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(socketDescriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { break }
            offset += written
        }
        shutdown(socketDescriptor, Int32(SHUT_WR))
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socketDescriptor, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            answer += buffer[..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test(arguments: [100, 9 * 1024 * 1024])
    func aTruncatedBodyNeverBecomesAnObject(sent: Int) async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let key = "\(account)/truncated-\(sent).mp3"
            let port = gateway.port
            let answer = try await onOwnThread { try Self.sendTruncated(port: port, path: "/k/\(token)/\(key)", declared: sent * 2, sent: sent) }
            #expect(!answer.hasPrefix("HTTP/1.1 2"), "\(answer.prefix(100))")
            // The route has finished with it (its refusal is logged after every upload task ended): nothing can land later.
            #expect(try await eventually { gateway.log.all.contains { $0.contains("refused") } }, "\(gateway.log.all)")
            #expect(try await TestServers.moto().headObject(key: key) == nil)
            let indexed = try await gateway.runtime.storage.objectCount(accountId: account)
            #expect(indexed == 0)
        }
    }

    /// A multipart content type the gateway cannot parse (no boundary, or not form-data) is refused, never
    /// stored as a raw object whose bytes would be the whole multipart envelope.
    @Test(arguments: ["multipart/form-data", "multipart/form-data; charset=utf-8", "multipart/mixed; boundary=abc"])
    func aMultipartBodyThatCannotBeParsedIsRefused(contentType: String) async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            let key = "\(account)/no-boundary.mp3"
            let envelope = Array("--abc\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nID3 recording\r\n--abc--\r\n".utf8)
            let answer = try await gateway.send(.PUT, "/k/\(token)/\(key)", body: envelope, headers: [("Content-Type", contentType)])
            #expect(answer.status == 400, "\(answer.text)")
            #expect(answer.text.contains("malformed_body"))
            #expect(try await TestServers.rclone().headObject(key: key) == nil)
            #expect(try await gateway.runtime.storage.objectCount(accountId: account) == 0)
        }
    }

    @Test func eachAccountOnlyEverWritesItsOwnBucket() async throws {
        try await TestGateway.with { gateway in
            let first = TestEnvironment.accountId()
            let second = TestEnvironment.accountId()
            let firstToken = try await gateway.addMotoAccount(first)
            let secondToken = try await gateway.addAccount(
                second,
                host: TestEnvironment.host(of: "RG_MOTO_ENDPOINT"),
                bucket: TestServers.environment("RG_MOTO_OTHER_BUCKET"),
                accessKeyId: TestServers.environment("RG_MOTO_OTHER_ACCESS_KEY"),
                secret: TestServers.environment("RG_MOTO_OTHER_SECRET_KEY")
            )
            let key1 = "\(first)/o/d/one.mp3"
            let key2 = "\(second)/o/d/two.mp3"
            #expect(try await gateway.send(.PUT, "/k/\(firstToken)/\(key1)", body: [1]).status == 201)
            #expect(try await gateway.send(.PUT, "/k/\(secondToken)/\(key2)", body: [2, 2]).status == 201)

            let firstBucket = try TestServers.moto()
            let secondBucket = try TestServers.moto(bucket: TestServers.environment("RG_MOTO_OTHER_BUCKET"))
            #expect(try await firstBucket.headObject(key: key1)?.size == 1)
            #expect(try await firstBucket.headObject(key: key2) == nil)
            // The second account's objects are in its bucket (read with the broad user, who may read both).
            let broad = S3Client(
                endpoint: secondBucket.endpoint,
                bucket: try TestServers.environment("RG_MOTO_OTHER_BUCKET"),
                credentials: Credentials(
                    accessKeyId: try TestServers.environment("RG_MOTO_BROAD_ACCESS_KEY"),
                    secretAccessKey: try TestServers.environment("RG_MOTO_BROAD_SECRET_KEY")
                ),
                http: TestServers.http
            )
            #expect(try await broad.headObject(key: key2)?.size == 2)
            #expect(try await broad.headObject(key: key1) == nil)
            // Tokens are not interchangeable: the first token cannot write under the second account's id.
            #expect(try await gateway.send(.PUT, "/k/\(firstToken)/\(second)/x.mp3", body: [3]).status == 403)
        }
    }

    @Test func secretsAndTokensNeverAppearInAnswersOrLogs() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let secret = try TestServers.environment("RG_MOTO_SECRET_KEY")
            var answers: [TestGateway.Answer] = []
            answers.append(try await gateway.send(.PUT, "/k/\(token)/\(account)/a.mp3", body: [1, 2]))
            answers.append(try await gateway.send(.GET, "/k/\(token)/\(account)/a.mp3/\(account)/a.mp3"))
            answers.append(try await gateway.send(.GET, "/k/\(token)/\(account)/a.mp3", headers: [("Authorization", "Basic dXNlcjpwYXNz")]))
            answers.append(try await gateway.send(.PUT, "/k/\(token)/a/../b.mp3", body: [1]))
            answers.append(try await gateway.send(.PUT, "/k/\(token)x/a.mp3", body: [1]))
            // An account whose secret S3 rejects: the failure is explained without the secret.
            let wrongSecret = "WRONG" + String(secret.dropFirst(5))
            let badAccount = TestEnvironment.accountId()
            let badToken = try await gateway.addAccount(
                badAccount,
                host: TestEnvironment.host(of: "RG_MOTO_ENDPOINT"),
                bucket: TestServers.environment("RG_MOTO_BUCKET"),
                accessKeyId: TestServers.environment("RG_MOTO_ACCESS_KEY"),
                secret: wrongSecret
            )
            // Acknowledged (spooled for replay); the queue row and the log explain why, without the secret.
            let refused = try await gateway.send(.PUT, "/k/\(badToken)/\(badAccount)/a.mp3", body: [1])
            #expect(refused.status == 202)
            answers.append(refused)
            let reason = try #require(try await gateway.runtime.ledger.uploads(accountId: badAccount).first?.lastError)
            #expect(reason.contains("secret access key"))
            #expect(!reason.contains(wrongSecret) && !reason.contains(secret))

            // The presigned URL is the answer's purpose; it must not reach the log.
            let location = try #require(answers[1].header("location"))
            let signature = String(location.suffix(64))
            for answer in answers {
                let everything = answer.text + answer.headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
                #expect(!everything.contains(secret))
                #expect(!everything.contains(wrongSecret))
                #expect(!everything.contains(token))
                #expect(!everything.contains(badToken))
            }
            let log = gateway.log.all.joined(separator: "\n")
            #expect(!log.isEmpty)
            for forbidden in [secret, wrongSecret, token, badToken, signature] {
                #expect(!log.contains(forbidden))
            }
        }
    }
}
