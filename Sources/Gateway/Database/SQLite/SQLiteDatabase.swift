import Foundation
public import GRDB

/// The embedded storage: one SQLite database (WAL) under `data_dir` holding accounts, the object index,
/// the upload queue and paused accounts. Owns its writer and runs its migrations (`SQLiteMigrations`)
/// when opened, so every process (serve, the command line) sees the same schema. Several processes may
/// use it at once; writers wait up to 10 s for each other. Nothing else runs SQL on its writer.
public struct SQLiteDatabase: GatewayStorage, Sendable {
    public static let fileName = "gateway.sqlite"
    let writer: any DatabaseWriter

    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try SQLiteMigrations.migrator.migrate(writer)
    }

    /// Opens (creating when absent) the database in `dataDirectory`.
    public static func open(dataDirectory: String) throws -> SQLiteDatabase {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.label = "gateway"
        let pool = try DatabasePool(path: (dataDirectory as NSString).appendingPathComponent(fileName), configuration: configuration)
        return try SQLiteDatabase(pool)
    }

    /// An empty database in memory, for tests.
    public static func inMemory() throws -> SQLiteDatabase {
        try SQLiteDatabase(DatabaseQueue())
    }

    /// What SQLite holds in the heap right now, over all connections (`sqlite3_memory_used`: page caches,
    /// prepared statements), or nil where the library lacks it. For `rg_sqlite_memory_bytes`.
    public static var heapBytes: Int? {
        typealias MemoryUsed = @convention(c) () -> Int64
        guard let symbol = dlsym(nil, "sqlite3_memory_used") else { return nil }
        return Int(unsafeBitCast(symbol, to: MemoryUsed.self)())
    }

    /// Nothing to let go of: the file closes with the process.
    public func close() async {}

    public func ping() async throws {
        _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// A read on this thread: one indexed lookup takes microseconds, less than a hop to a GRDB queue and back.
    func readNow<T>(_ body: (Database) throws -> T) throws -> T { try writer.read(body) }

    /// A write on this thread (writers wait up to 10 s for each other, as before the storage seam).
    func writeNow<T>(_ body: (Database) throws -> T) throws -> T { try writer.write(body) }

    /// The counter every change to `account` bumps (triggers), read inside `db`'s transaction.
    static func registryRevision(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT revision FROM registry_revision WHERE id = 1") ?? 0
    }
}
