public import Foundation
public import Logging
import NIOConcurrencyHelpers
import NIOSSL
import PostgresNIO

/// The shared storage of several gateways: one PostgreSQL database (`database_url`) holding accounts,
/// the object index, the upload queue and paused accounts, as `SQLiteDatabase` does for one node. Queue
/// rows carry the `node_id` of the node whose spool holds their file; this node claims, recovers and
/// cleans up only its own. Opening it applies the migrations (`PostgresMigrations`) under an advisory
/// lock. The connection pool runs until `close()`.
public final class PostgresDatabase: GatewayStorage, Sendable {
    let client: PostgresClient
    /// This node: its queue rows are the ones it replays.
    public let nodeId: String
    let logger: Logger
    /// Signalled when an account changes anywhere (a notification on `rg_accounts`), or when the listening
    /// connection came back (a notification may have been missed).
    let accountChanges = Wakeup()
    private let pool: Task<Void, Never>
    private let listener: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)

    private init(client: PostgresClient, nodeId: String, logger: Logger) {
        self.client = client
        self.nodeId = nodeId
        self.logger = logger
        pool = Task { await client.run() }
    }

    /// LISTENs on `rg_accounts` on a connection of its own, again after a second whenever it drops.
    private func listen() {
        let task = Task { [client, accountChanges, logger] in
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "rg_accounts") { notifications in
                            accountChanges.signal()
                            for try await _ in notifications { accountChanges.signal() }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning(
                        "account change notifications lost; reloading accounts every second until they are back: \(DatabaseUnavailable.reason(error))"
                    )
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        listener.withLockedValue { $0 = task }
    }

    /// Connects, checks the server answers, and brings the schema up to this binary's version (or refuses
    /// a schema newer than this binary knows, changing nothing).
    public static func open(url: DatabaseURL, nodeId: String, logger: Logger) async throws -> PostgresDatabase {
        var configuration: PostgresClient.Configuration
        if let socketPath = url.socketPath {
            configuration = .init(unixSocketPath: socketPath, username: url.user, password: url.password, database: url.database)
        } else {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            if url.tls == .require { tlsConfiguration.certificateVerification = .none }
            let tls: PostgresClient.Configuration.TLS = url.tls == .disable ? .disable : .require(tlsConfiguration)
            configuration = .init(
                host: url.host ?? "localhost",
                port: url.port,
                username: url.user,
                password: url.password,
                database: url.database,
                tls: tls
            )
        }
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 20
        let database = PostgresDatabase(client: PostgresClient(configuration: configuration), nodeId: nodeId, logger: logger)
        do {
            // At start a connection is made first: given longer than an operation on a running node.
            try await database.execute("SELECT 1", within: .seconds(15))
            try await PostgresMigrations.apply(client: database.client, logger: logger)
            database.listen()
        } catch {
            await database.close()
            throw DatabaseUnavailable(url: url, error: error)
        }
        return database
    }

    /// Stops the connection pool.
    public func close() async {
        if let listener = listener.withLockedValue({ $0 }) {
            listener.cancel()
            await listener.value
        }
        pool.cancel()
        await pool.value
    }

    public func ping() async throws {
        try await execute("SELECT 1", within: .seconds(3))
    }

    /// How long one database operation may take (waiting for a connection included) before it fails: while
    /// PostgreSQL is away, stores and `/readyz` answer instead of waiting for it.
    static let operationTimeout: Duration = .seconds(10)

    /// Runs `body`, failing with `DatabaseUnavailable` (and cancelling it) when it takes longer than `limit`;
    /// PostgreSQL's errors become `DatabaseUnavailable` with the server's words (PSQLError hides them).
    func bounded<T: Sendable>(_ limit: Duration = operationTimeout, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await race(limit, body)
        } catch let error as PSQLError {
            throw DatabaseUnavailable(reason: "PostgreSQL: \(DatabaseUnavailable.reason(error))")
        }
    }

    private func race<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else {
                throw DatabaseUnavailable(reason: "PostgreSQL did not answer within \(limit)")
            }
            return result
        }
    }

    /// Runs one statement.
    func execute(_ query: PostgresQuery, within limit: Duration = operationTimeout) async throws {
        try await bounded(limit) { [client, logger] in _ = try await client.query(query, logger: logger) }
    }

    /// Runs `body` in one transaction (committed when it returns, rolled back when it throws).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await bounded { [client, logger] in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// The rows of `query`, each decoded by `decode` (on `connection`, inside a transaction; else bounded on its own).
    func rows<T: Sendable>(
        _ query: PostgresQuery,
        on connection: PostgresConnection? = nil,
        _ decode: @escaping @Sendable (PostgresRandomAccessRow) throws -> T
    ) async throws -> [T] {
        let logger = logger
        @Sendable func read(_ sequence: PostgresRowSequence) async throws -> [T] {
            var decoded: [T] = []
            for try await row in sequence { decoded.append(try decode(row.makeRandomAccess())) }
            return decoded
        }
        if let connection { return try await read(try await connection.query(query, logger: logger)) }
        return try await bounded { [client] in try await read(try await client.query(query, logger: logger)) }
    }

    /// The first column of the first row of `query`, or nil.
    func value<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type, on connection: PostgresConnection? = nil) async throws -> T?
    where T._DecodableType == T {
        try await rows(query, on: connection) { row in try row[0].decode(T?.self) }.first ?? nil
    }
}

/// PostgreSQL did not answer, or refused: said with the URL (never its password) and what the server said.
public struct DatabaseUnavailable: OperatorFacingError, Sendable {
    public let description: String

    init(url: DatabaseURL, error: any Error) {
        description = "the database at \(url) cannot be used: \(Self.reason(error))"
    }

    init(reason: String) { description = reason }

    /// What went wrong, from PostgreSQL's own message where there is one (PSQLError hides it by default).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] { return message }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "\(error.code)"
    }
}
