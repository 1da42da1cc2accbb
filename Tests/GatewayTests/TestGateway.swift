import AsyncHTTPClient
import Foundation
import Gateway
import Logging
import NIOCore
import NIOHTTP1
import S3
import ServiceLifecycle
import Spool
import TestSupport

/// The real gateway, built exactly as `serve` builds it, listening on a free loopback port in this
/// process, with a fresh data directory and its log captured. Stopped (gracefully) and removed after `body`.
struct TestGateway: Sendable {
    let runtime: GatewayRuntime
    let port: Int
    /// The admin listener's port (`/metrics`, `/api/`).
    let adminPort: Int
    let log: CapturedLog
    let group: ServiceGroup
    let masterKey: String
    var scheme = "http"

    var base: String { "\(scheme)://127.0.0.1:\(port)" }
    /// The spool files now: a store under way has one (written ahead), a spooled one keeps it.
    var spoolFiles: [String] { Spool.spoolFiles(in: runtime.ledger.spool.settings.directory) }
    var http: HTTPClient { TestServers.http }

    /// The test configuration: free loopback ports, a 64 MiB budget, spooling whatever the free disk; `with` gives it a fresh data directory.
    static var config: GatewayConfig {
        var config = GatewayConfig()
        config.listen = "127.0.0.1:0"
        config.adminListen = "127.0.0.1:0"
        config.spoolMinFreeBytes = 0  // the same behaviour on a machine with little free disk
        config.publicBaseURL = "https://gateway.test"
        config.memoryBudgetBytes = 64 * 1024 * 1024
        return config
    }

    static func with<T: Sendable>(
        config base: GatewayConfig = TestGateway.config,
        scheme: String = "http",
        s3 configureS3: (inout S3ClientConfiguration) -> Void = { _ in },
        _ body: (TestGateway) async throws -> T
    ) async throws -> T {
        let directory = NSTemporaryDirectory() + "rg-gateway-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = base
        config.dataDir = directory
        let log = CapturedLog()
        var logger = log.logger
        logger.logLevel = .debug
        var s3 = S3ClientConfiguration()
        s3.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        configureS3(&s3)
        let masterKey = MasterKey.generateEncoded()
        let runtime = try await GatewayBootstrap.open(
            config: config,
            environment: [MasterKey.environmentVariable: masterKey],
            s3Configuration: s3,
            logger: logger
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let (adminPorts, adminContinuation) = AsyncStream.makeStream(of: Int.self)
        let group = try runtime.serviceGroup(
            gracefulShutdownSignals: [],
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            onAdminRunning: { channel in adminContinuation.yield(channel.localAddress?.port ?? 0) }
        )
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            var adminIterator = adminPorts.makeAsyncIterator()
            let adminPort = await adminIterator.next() ?? 0
            let gateway = TestGateway(
                runtime: runtime,
                port: port,
                adminPort: adminPort,
                log: log,
                group: group,
                masterKey: masterKey,
                scheme: scheme
            )
            let result: Result<T, any Error>
            do {
                result = .success(try await body(gateway))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            try await runtime.http.shutdown()
            return try result.get()
        }
    }

    /// Adds an account and makes the server see it now; returns its token.
    @discardableResult
    func addAccount(
        _ id: String,
        host: String,
        bucket: String,
        accessKeyId: String,
        secret: String,
        configure: (inout AccountInput) -> Void = { _ in }
    ) async throws -> String {
        var input = AccountInput()
        input.name = "Test account \(id.prefix(6))"
        input.bucket = bucket
        input.host = host
        input.scheme = .http
        input.pathStyle = true
        input.accessKeyId = accessKeyId
        input.secretAccessKey = secret
        configure(&input)
        let (_, token) = try await runtime.accounts.add(accountId: id, input)
        try await runtime.reloadAccounts()
        return token
    }

    /// An account whose S3 is down: nothing listens on its host's port. Returns its token.
    func addUnreachableAccount(_ id: String) async throws -> String {
        try await addAccount(
            id,
            host: "127.0.0.1:\(BackgroundProcess.freePort())",
            bucket: "nowhere",
            accessKeyId: "AKIDNOWHERE",
            secret: TestGateway.unreachableSecret
        )
    }

    static let unreachableSecret = "nowhere-secret-value"

    /// An account on moto with the least-privilege user on rg-recordings.
    func addMotoAccount(_ id: String, configure: (inout AccountInput) -> Void = { _ in }) async throws -> String {
        try await addTestServerAccount(id, server: "MOTO", configure: configure)
    }

    /// An account on rclone serve s3 (which checks presigned URLs).
    func addRcloneAccount(_ id: String, configure: (inout AccountInput) -> Void = { _ in }) async throws -> String {
        try await addTestServerAccount(id, server: "RCLONE", configure: configure)
    }

    /// An account on the server ./scripts/test described in `RG_<server>_ENDPOINT`, `_BUCKET`, `_ACCESS_KEY`, `_SECRET_KEY`.
    func addTestServerAccount(_ id: String, server: String, configure: (inout AccountInput) -> Void) async throws -> String {
        try await addAccount(
            id,
            host: TestEnvironment.host(of: "RG_\(server)_ENDPOINT"),
            bucket: TestServers.environment("RG_\(server)_BUCKET"),
            accessKeyId: TestServers.environment("RG_\(server)_ACCESS_KEY"),
            secret: TestServers.environment("RG_\(server)_SECRET_KEY"),
            configure: configure
        )
    }

    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: path.hasPrefix("http") ? path : base + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        return try await Self.collect(try await http.execute(request, timeout: .seconds(120)))
    }

    static func collect(_ response: HTTPClientResponse) async throws -> Answer {
        let bytes = try await response.body.collect(upTo: 512 * 1024 * 1024)
        return Answer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(bytes.readableBytesView))
    }

    /// Follows one redirect the way httpc does (a plain GET of `Location`, no credentials).
    func follow(_ answer: Answer) async throws -> Answer {
        guard let location = answer.header("location") else { return answer }
        return try await send(.GET, location)
    }
}
