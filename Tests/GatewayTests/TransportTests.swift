import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import NIOSSL
import S3
import TestSupport
import Testing

/// How the gateway talks HTTP: 100-continue, TLS, graceful shutdown, and Erlang's httpc (KAZOO's client).
@Suite(.serialized)
struct TransportTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "rg-transport-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func expectContinueIsAnsweredOnlyForAcceptedRequests() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/big.bin"
        try Data(TestEnvironment.randomBytes(4 * 1024 * 1024, seed: 9)).write(to: URL(fileURLWithPath: file))
        var config = TestGateway.config
        config.maxRequestBytes = 5 * 1024 * 1024
        try await TestGateway.with(config: config) { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let base = gateway.base
            func curl(_ path: String) async throws -> [String] {
                try await onOwnThread {
                    // curl sends `Expect: 100-continue` for large bodies; told to wait up to 60 s for the interim
                    // answer, it would stall that long against a server that ignores the header.
                    try Curl.run([
                        "--path-as-is", "--expect100-timeout", "60", "-o", "/dev/null", "-T", file, "-H", "Expect: 100-continue", "-w",
                        "%{http_code} %{size_upload} %{time_total}", base + path,
                    ])
                }.output.split(separator: " ").map(String.init)
            }
            let accepted = try await curl("/k/\(token)/\(account)/expect.mp3")
            #expect(accepted[0] == "201")
            #expect(accepted[1] == "\(4 * 1024 * 1024)")
            // A server ignoring the header would stall it 60 s; under the parallel suite's load a store to moto took 20 s once.
            #expect((Double(accepted[2]) ?? 99) < 55, "no stall waiting for 100 Continue")

            for (path, status) in [("/k/rg_\(String(repeating: "B", count: 43))/\(account)/x.mp3", "401"), ("/k/\(token)/a/../x.mp3", "400")] {
                let refused = try await curl(path)
                #expect(refused[0] == status)
                #expect(refused[1] == "0", "the body was not sent")
            }
            let big = directory + "/too-big.bin"
            try Data(count: 6 * 1024 * 1024).write(to: URL(fileURLWithPath: big))
            let tooBig = try await onOwnThread {
                try Curl.run([
                    "--expect100-timeout", "20", "-o", "/dev/null", "-T", big, "-w", "%{http_code} %{size_upload}",
                    base + "/k/\(token)/\(account)/big.mp3",
                ])
            }.output
            #expect(tooBig == "413 0")
        }
    }

    @Test func storesAndFetchesOverTLS() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try ChildProcess.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gateway.test",
                "-addext", "subjectAltName=DNS:gateway.test,IP:127.0.0.1",
                "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
            ]
        )
        #expect(made.status == 0)
        var config = TestGateway.config
        config.tlsCertificateFile = directory + "/cert.pem"
        config.tlsKeyFile = directory + "/key.pem"
        try await TestGateway.with(config: config, scheme: "https") { gateway in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(directory + "/cert.pem")
            tls.minimumTLSVersion = .tlsv12
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
            defer { _ = client.shutdown() }
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            let bytes = TestEnvironment.randomBytes(100_000, seed: 10)
            var put = HTTPClientRequest(url: gateway.base + "/k/\(token)/\(account)/tls.mp3")
            put.method = .PUT
            put.body = .bytes(ByteBuffer(bytes: bytes))
            #expect(try await client.execute(put, timeout: .seconds(30)).status.code == 201)
            let redirect = try await client.execute(
                HTTPClientRequest(url: gateway.base + "/k/\(token)/\(account)/tls.mp3/\(account)/tls.mp3"),
                timeout: .seconds(30)
            )
            #expect(redirect.status.code == 302)
            let location = try #require(redirect.headers.first(name: "location"))
            let fetched = try await gateway.send(.GET, location)
            #expect(fetched.body == bytes)

            // Plain http to the TLS port gets nowhere; TLS 1.1 is refused.
            await #expect(throws: (any Error).self) {
                _ = try await TestServers.http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(gateway.port)/healthz"), timeout: .seconds(5))
            }
            let port = gateway.port
            let old = try await onOwnThread {
                try Curl.run([
                    "--tlsv1.1", "--tls-max", "1.1", "--cacert", directory + "/cert.pem", "-o", "/dev/null", "-w", "%{http_code}",
                    "https://127.0.0.1:\(port)/healthz",
                ])
            }
            #expect(old.status != 0)
        }
    }

    @Test func gracefulShutdownLetsAnUploadInFlightFinish() async throws {
        let account = TestEnvironment.accountId()
        let key = "\(account)/in-flight.mp3"
        let length = 3 * 1024 * 1024
        let status = try await TestGateway.with { gateway in
            let token = try await gateway.addMotoAccount(account)
            var request = HTTPClientRequest(url: gateway.base + "/k/\(token)/\(key)")
            request.method = .PUT
            let (chunks, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
            request.body = .stream(chunks, length: .known(Int64(length)))
            let client = gateway.http
            let response = Task { try await client.execute(request, timeout: .seconds(60)).status.code }
            let bytes = TestEnvironment.randomBytes(length, seed: 11)
            continuation.yield(ByteBuffer(bytes: bytes[..<(1024 * 1024)]))
            #expect(try await eventually { gateway.runtime.memory.parts.inUse > 0 }, "the store is under way (its part buffer is taken)")
            // SIGTERM's effect: stop accepting, drain in-flight requests.
            let group = gateway.group
            Task { await group.triggerGracefulShutdown() }
            #expect(try await eventually { !BackgroundProcess.isListening(gateway.port) }, "no longer accepting")
            continuation.yield(ByteBuffer(bytes: bytes[(1024 * 1024)...]))
            continuation.finish()
            return try await response.value
        }
        #expect(status == 201)
        #expect(try await TestServers.moto().headObject(key: key)?.size == length)
    }

    @Test func aStalledUploadIsCancelledWhenTheDrainTimeRunsOut() async throws {
        var config = TestGateway.config
        config.shutdownDrainSeconds = 1
        let account = TestEnvironment.accountId()
        let key = "\(account)/stalled.mp3"
        let (chunks, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let started = ContinuousClock.now
        let status: Int? = try await TestGateway.with(config: config) { gateway in
            let token = try await gateway.addMotoAccount(account)
            var request = HTTPClientRequest(url: gateway.base + "/k/\(token)/\(key)")
            request.method = .PUT
            request.body = .stream(chunks, length: .known(Int64(2 * 1024 * 1024)))
            let client = gateway.http
            let response = Task { try? await client.execute(request, timeout: .seconds(60)).status.code }
            continuation.yield(ByteBuffer(bytes: [UInt8](repeating: 1, count: 1024 * 1024)))
            #expect(try await eventually { gateway.runtime.memory.parts.inUse > 0 }, "the store is under way (its part buffer is taken)")
            let group = gateway.group
            Task { await group.triggerGracefulShutdown() }
            // The client never sends the rest: the drain time (1 s) runs out and the upload is cancelled.
            let answer = await response.value.map { Int($0) }
            continuation.finish()
            return answer
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(status != 201)
        #expect(try await TestServers.moto().headObject(key: key) == nil)
    }

    @Test func accountsChangedByAnotherProcessAreServedWithinSeconds() async throws {
        try await TestGateway.with { gateway in
            // What `recording-gateway accounts add` does while `serve` runs: its own connection to the database.
            let database = try SQLiteDatabase.open(dataDirectory: gateway.runtime.config.dataDir)
            let key = try MasterKey.load(
                dataDirectory: gateway.runtime.config.dataDir,
                environment: [MasterKey.environmentVariable: gateway.masterKey],
                mayCreate: false
            )
            let otherProcess = AccountRegistry(storage: database, masterKey: key)
            let account = TestEnvironment.accountId()
            var input = AccountInput()
            input.name = "Added elsewhere"
            input.bucket = try TestServers.environment("RG_RCLONE_BUCKET")
            input.host = try TestEnvironment.host(of: "RG_RCLONE_ENDPOINT")
            input.scheme = .http
            input.pathStyle = true
            input.accessKeyId = try TestServers.environment("RG_RCLONE_ACCESS_KEY")
            input.secretAccessKey = try TestServers.environment("RG_RCLONE_SECRET_KEY")
            let (_, token) = try await otherProcess.add(accountId: account, input)
            #expect(try await eventually(6) { try await gateway.send(.PUT, "/k/\(token)/\(account)/elsewhere.mp3", body: [1, 2, 3]).status == 201 })
            try await otherProcess.remove(account)
            #expect(try await eventually(6) { try await gateway.send(.PUT, "/k/\(token)/\(account)/elsewhere.mp3", body: [1]).status == 401 })
        }
    }

    @Test func aWrongMasterKeyStopsTheStartWithoutChangingAnything() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = GatewayConfig()
        config.dataDir = directory
        let first = try await GatewayBootstrap.open(config: config, environment: [:])
        var input = AccountRegistryTests.input()
        input.host = "127.0.0.1:9"
        _ = try await first.accounts.add(accountId: AccountRegistryTests.id, input)
        try await first.http.shutdown()
        let keyFile = directory + "/" + MasterKey.fileName
        let before = try [keyFile, directory + "/" + SQLiteDatabase.fileName].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }

        await #expect(throws: MasterKeyError.self) {
            _ = try await GatewayBootstrap.open(config: config, environment: [MasterKey.environmentVariable: MasterKey.generateEncoded()])
        }
        try FileManager.default.moveItem(atPath: keyFile, toPath: keyFile + ".moved")
        await #expect(throws: MasterKeyError.self) { _ = try await GatewayBootstrap.open(config: config, environment: [:]) }
        #expect(!FileManager.default.fileExists(atPath: keyFile), "no new key was made over sealed secrets")
        try FileManager.default.moveItem(atPath: keyFile + ".moved", toPath: keyFile)
        let after = try [keyFile, directory + "/" + SQLiteDatabase.fileName].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        #expect(before == after)
        // `first` still owns the spool directory; this opens beside it, as the queue commands do.
        let again = try await GatewayBootstrap.open(config: config, environment: [:], ownsSpool: false)
        #expect(again.accountCount == 1)
        try await again.http.shutdown()
    }
}
