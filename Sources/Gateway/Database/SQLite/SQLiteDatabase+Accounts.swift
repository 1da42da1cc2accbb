public import Foundation
public import GRDB

extension AccountRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "account"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

extension SQLiteDatabase {
    public func holdsSealedSecrets() async throws -> Bool {
        try readNow { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM master_key_check) + (SELECT COUNT(*) FROM account)") ?? 0 > 0
        }
    }

    public func masterKeyCheckValue() async throws -> Data? {
        try readNow { db in try Data.fetchOne(db, sql: "SELECT sealed FROM master_key_check WHERE id = 1") }
    }

    public func storeMasterKeyCheckValue(_ value: Data) async throws -> Data {
        try writeNow { db in
            try db.execute(sql: "INSERT OR IGNORE INTO master_key_check (id, sealed) VALUES (1, ?)", arguments: [value])
            return try Data.fetchOne(db, sql: "SELECT sealed FROM master_key_check WHERE id = 1") ?? value
        }
    }

    public func insertAccount(_ record: AccountRecord) async throws -> Bool {
        try writeNow { db in
            guard try AccountRecord.fetchOne(db, key: record.accountId) == nil else { return false }
            try record.insert(db)
            return true
        }
    }

    public func account(_ accountId: String) async throws -> AccountRecord? {
        try readNow { db in try AccountRecord.fetchOne(db, key: accountId) }
    }

    public func accounts() async throws -> [AccountRecord] {
        try readNow { db in try AccountRecord.order(Column("name"), Column("account_id")).fetchAll(db) }
    }

    public func updateAccount(_ accountId: String, _ change: @Sendable (inout AccountRecord) throws -> Void) async throws -> AccountRecord? {
        try writeNow { db in
            guard var record = try AccountRecord.fetchOne(db, key: accountId) else { return nil }
            try change(&record)
            try record.update(db)
            return record
        }
    }

    public func deleteAccount(_ accountId: String) async throws -> Bool {
        try writeNow { db in try AccountRecord.deleteOne(db, key: accountId) }
    }

    public func registryRevision() async throws -> Int {
        try await writer.read { db in try Self.registryRevision(db) }
    }

    public func accountsWithRevision() async throws -> (revision: Int, records: [AccountRecord]) {
        try await writer.read { db in (try Self.registryRevision(db), try AccountRecord.fetchAll(db)) }
    }

    /// SQLite cannot tell another process's change: the caller polls the revision every `timeout`.
    public func waitForAccountChanges(timeout: Duration) async throws {
        try await Task.sleep(for: timeout)
    }
}
