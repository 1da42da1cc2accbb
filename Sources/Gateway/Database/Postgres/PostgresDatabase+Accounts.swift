public import Foundation
import PostgresNIO

extension PostgresDatabase {
    static let accountColumns = """
        account_id, name, bucket, host, region, scheme, path_style, access_key_id, sealed_secret, key_prefix, sse,
        kms_key_id, storage_class, download_mode, presign_expiry_seconds, enabled, token_hash, created_at, updated_at
        """

    static func accountRecord(_ row: PostgresRandomAccessRow) throws -> AccountRecord {
        AccountRecord(
            accountId: try row["account_id"].decode(String.self),
            name: try row["name"].decode(String.self),
            bucket: try row["bucket"].decode(String.self),
            host: try row["host"].decode(String.self),
            region: try row["region"].decode(String?.self),
            scheme: try row["scheme"].decode(String.self),
            pathStyle: try row["path_style"].decode(Bool.self),
            accessKeyId: try row["access_key_id"].decode(String.self),
            sealedSecret: Data(try row["sealed_secret"].decode(ByteBuffer.self).readableBytesView),
            keyPrefix: try row["key_prefix"].decode(String.self),
            sse: try row["sse"].decode(String?.self),
            kmsKeyId: try row["kms_key_id"].decode(String?.self),
            storageClass: try row["storage_class"].decode(String?.self),
            downloadMode: try row["download_mode"].decode(String.self),
            presignExpirySeconds: try row["presign_expiry_seconds"].decode(Int?.self),
            enabled: try row["enabled"].decode(Bool.self),
            tokenHash: try row["token_hash"].decode(String.self),
            createdAt: try row["created_at"].decode(Date.self),
            updatedAt: try row["updated_at"].decode(Date.self)
        )
    }

    public func holdsSealedSecrets() async throws -> Bool {
        try await value("SELECT (SELECT count(*) FROM master_key_check) + (SELECT count(*) FROM account)", as: Int.self) ?? 0 > 0
    }

    public func masterKeyCheckValue() async throws -> Data? {
        try await value("SELECT sealed FROM master_key_check WHERE id = 1", as: ByteBuffer.self).map { Data($0.readableBytesView) }
    }

    public func storeMasterKeyCheckValue(_ value: Data) async throws -> Data {
        try await execute(
            "INSERT INTO master_key_check (id, sealed) VALUES (1, \(ByteBuffer(bytes: value))) ON CONFLICT (id) DO NOTHING"
        )
        return try await masterKeyCheckValue() ?? value
    }

    public func insertAccount(_ record: AccountRecord) async throws -> Bool {
        let inserted = try await rows(
            """
            INSERT INTO account (\(unescaped: Self.accountColumns)) VALUES (\(record.accountId), \(record.name), \(record.bucket),
                \(record.host), \(record.region), \(record.scheme), \(record.pathStyle), \(record.accessKeyId),
                \(ByteBuffer(bytes: record.sealedSecret)), \(record.keyPrefix), \(record.sse), \(record.kmsKeyId),
                \(record.storageClass), \(record.downloadMode), \(record.presignExpirySeconds), \(record.enabled),
                \(record.tokenHash), \(record.createdAt), \(record.updatedAt))
            ON CONFLICT (account_id) DO NOTHING RETURNING account_id
            """
        ) { row in try row[0].decode(String.self) }
        return !inserted.isEmpty
    }

    public func account(_ accountId: String) async throws -> AccountRecord? {
        try await rows("SELECT \(unescaped: Self.accountColumns) FROM account WHERE account_id = \(accountId)", Self.accountRecord).first
    }

    public func accounts() async throws -> [AccountRecord] {
        try await rows("SELECT \(unescaped: Self.accountColumns) FROM account ORDER BY name, account_id", Self.accountRecord)
    }

    public func updateAccount(_ accountId: String, _ change: @Sendable (inout AccountRecord) throws -> Void) async throws -> AccountRecord? {
        // The transaction's task ends before this returns (a timeout cancels it and waits for it).
        try await withoutActuallyEscaping(change) { change in try await update(accountId, change) }
    }

    private func update(_ accountId: String, _ change: @escaping @Sendable (inout AccountRecord) throws -> Void) async throws -> AccountRecord? {
        try await transaction { [self] connection in
            let found = try await rows(
                "SELECT \(unescaped: Self.accountColumns) FROM account WHERE account_id = \(accountId) FOR UPDATE",
                on: connection,
                Self.accountRecord
            )
            guard var record = found.first else { return nil }
            try change(&record)
            try await connection.query(
                """
                UPDATE account SET name = \(record.name), bucket = \(record.bucket), host = \(record.host), region = \(record.region),
                    scheme = \(record.scheme), path_style = \(record.pathStyle), access_key_id = \(record.accessKeyId),
                    sealed_secret = \(ByteBuffer(bytes: record.sealedSecret)), key_prefix = \(record.keyPrefix), sse = \(record.sse),
                    kms_key_id = \(record.kmsKeyId), storage_class = \(record.storageClass), download_mode = \(record.downloadMode),
                    presign_expiry_seconds = \(record.presignExpirySeconds), enabled = \(record.enabled), token_hash = \(record.tokenHash),
                    created_at = \(record.createdAt), updated_at = \(record.updatedAt)
                WHERE account_id = \(accountId)
                """,
                logger: logger
            )
            return record
        }
    }

    public func deleteAccount(_ accountId: String) async throws -> Bool {
        try await !rows("DELETE FROM account WHERE account_id = \(accountId) RETURNING account_id") { row in try row[0].decode(String.self) }.isEmpty
    }

    public func registryRevision() async throws -> Int {
        try await value("SELECT revision FROM registry_revision WHERE id = 1", as: Int.self) ?? 0
    }

    public func accountsWithRevision() async throws -> (revision: Int, records: [AccountRecord]) {
        try await transaction { [self] connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            let revision = try await value("SELECT revision FROM registry_revision WHERE id = 1", as: Int.self, on: connection) ?? 0
            let records = try await rows("SELECT \(unescaped: Self.accountColumns) FROM account", on: connection, Self.accountRecord)
            return (revision, records)
        }
    }

    /// Returns when another node (or this one) changed an account (LISTEN rg_accounts), or after `timeout`:
    /// the caller reloads when the revision moved, so a dropped notification costs at most `timeout`.
    public func waitForAccountChanges(timeout: Duration) async throws {
        await accountChanges.wait(upTo: timeout)
    }
}
