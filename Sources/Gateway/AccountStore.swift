public import Foundation
import GRDB

/// Accounts in the database: add, list, show, update, remove, rotate a token. Used by the command
/// line and the server alike (several processes may use one database at once).
public struct AccountStore: Sendable {
    public let database: AppDatabase
    let box: SecretBox
    let now: @Sendable () -> Date

    public init(database: AppDatabase, masterKey: MasterKey, now: @escaping @Sendable () -> Date = { Date() }) {
        self.database = database
        self.box = SecretBox(masterKey: masterKey)
        self.now = now
    }

    static let probeContext = "master-key-check"
    static let probeText = "recording-gateway master key check"

    /// Whether the database already holds secrets sealed under some master key.
    public static func holdsSealedSecrets(_ database: AppDatabase) throws -> Bool {
        try database.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM master_key_check) + (SELECT COUNT(*) FROM account)") ?? 0 > 0
        }
    }

    /// Proves the master key opens this database's secrets (sealing a probe on first use); a wrong key
    /// is an error and changes nothing.
    public func checkMasterKey() throws {
        try database.writer.write { db in
            if let sealed = try Data.fetchOne(db, sql: "SELECT sealed FROM master_key_check WHERE id = 1") {
                guard (try? box.open(sealed, context: Self.probeContext)) == Self.probeText else {
                    throw MasterKeyError(
                        "the master key from \(box.masterKey.source) does not open the secrets in this data directory's database; start with the key it was created with. Nothing was changed."
                    )
                }
                return
            }
            for record in try AccountRecord.fetchAll(db) {
                guard (try? box.open(record.sealedSecret, context: record.accountId)) != nil else {
                    throw MasterKeyError(
                        "the master key from \(box.masterKey.source) does not open account \(record.accountId)'s secret; start with the key it was sealed with. Nothing was changed."
                    )
                }
            }
            try db.execute(
                sql: "INSERT INTO master_key_check (id, sealed) VALUES (1, ?)",
                arguments: [try box.seal(Self.probeText, context: Self.probeContext)]
            )
        }
    }

    /// Creates an account; returns it with its client token (shown this once).
    public func add(accountId: String, _ input: AccountInput) throws -> (account: Account, token: String) {
        let time = now()
        let blank = Account(
            accountId: accountId.trimmingCharacters(in: .whitespaces),
            name: "",
            bucket: "",
            host: "",
            region: nil,
            scheme: .https,
            pathStyle: false,
            accessKeyId: "",
            keyPrefix: "",
            sse: .aes256,
            kmsKeyId: nil,
            storageClass: nil,
            downloadMode: .redirect,
            presignExpirySeconds: nil,
            enabled: true,
            createdAt: time,
            updatedAt: time
        )
        let account = try input.applied(to: blank)
        guard let secret = input.secretAccessKey else {
            throw AccountError.invalid(field: "secret_access_key", "is required (give it on standard input)")
        }
        let token = ClientToken.generate()
        let record = AccountRecord(
            account,
            sealedSecret: try box.seal(secret, context: account.accountId),
            tokenHash: ClientToken.hash(token)
        )
        try database.writer.write { db in
            guard try AccountRecord.fetchOne(db, key: account.accountId) == nil else {
                throw AccountError.duplicate(account.accountId)
            }
            try record.insert(db)
        }
        return (account, token)
    }

    public func list() throws -> [Account] {
        try database.writer.read { db in try AccountRecord.order(Column("name"), Column("account_id")).fetchAll(db) }.map(\.account)
    }

    public func find(_ accountId: String) throws -> Account {
        guard let record = try database.writer.read({ db in try AccountRecord.fetchOne(db, key: accountId) }) else {
            throw AccountError.notFound(accountId)
        }
        return record.account
    }

    /// Applies `input`; a new secret is sealed, an unchanged one kept.
    @discardableResult
    public func update(_ accountId: String, _ input: AccountInput) throws -> Account {
        try database.writer.write { db in
            guard var record = try AccountRecord.fetchOne(db, key: accountId) else { throw AccountError.notFound(accountId) }
            var account = try input.applied(to: record.account)
            account.updatedAt = now()
            let sealed = try input.secretAccessKey.map { try box.seal($0, context: accountId) } ?? record.sealedSecret
            record = AccountRecord(account, sealedSecret: sealed, tokenHash: record.tokenHash)
            try record.update(db)
            return account
        }
    }

    public func remove(_ accountId: String) throws {
        let deleted = try database.writer.write { db in try AccountRecord.deleteOne(db, key: accountId) }
        guard deleted else { throw AccountError.notFound(accountId) }
    }

    /// Replaces the client token; the old one stops working at once. Returns the new token (shown this once).
    public func rotateToken(_ accountId: String) throws -> String {
        let token = ClientToken.generate()
        try database.writer.write { db in
            guard var record = try AccountRecord.fetchOne(db, key: accountId) else { throw AccountError.notFound(accountId) }
            record.tokenHash = ClientToken.hash(token)
            record.updatedAt = now()
            try record.update(db)
        }
        return token
    }

    /// A counter that changes whenever any account does.
    public func revision() async throws -> Int {
        try await database.writer.read { db in try AppDatabase.registryRevision(db) }
    }

    /// Every account with its opened secret and token hash, for the server's in-memory directory.
    func loadCredentials() async throws -> (revision: Int, accounts: [(record: AccountRecord, secret: String?)]) {
        let (revision, records) = try await database.writer.read { db in
            (
                try AppDatabase.registryRevision(db),
                try AccountRecord.fetchAll(db)
            )
        }
        return (revision, records.map { ($0, try? box.open($0.sealedSecret, context: $0.accountId)) })
    }
}
