public import Foundation

/// The account registry: add, list, show, update, remove, rotate a token, with secrets sealed under the
/// master key and tokens kept only as hashes. The command line, the admin API and the server use it
/// alike, over whichever storage holds the accounts (several processes may share one).
public struct AccountRegistry: Sendable {
    public let storage: any AccountStorage
    let box: SecretBox
    let now: @Sendable () -> Date

    public init(storage: any AccountStorage, masterKey: MasterKey, now: @escaping @Sendable () -> Date = { Date() }) {
        self.storage = storage
        self.box = SecretBox(masterKey: masterKey)
        self.now = now
    }

    /// The key secrets are sealed under (the spool seals its files' keys under it too).
    var masterKey: MasterKey { box.masterKey }

    static let probeContext = "master-key-check"
    static let probeText = "recording-gateway master key check"

    /// Proves the master key opens this storage's secrets (sealing a check value on first use); a wrong
    /// key is an error and changes nothing.
    public func checkMasterKey() async throws {
        if let sealed = try await storage.masterKeyCheckValue() {
            try openCheckValue(sealed)
            return
        }
        for record in try await storage.accounts() {
            guard (try? box.open(record.sealedSecret, context: record.accountId)) != nil else {
                throw MasterKeyError(
                    "the master key from \(box.masterKey.source) does not open account \(record.accountId)'s secret; start with the key it was sealed with. Nothing was changed."
                )
            }
        }
        // Another process may have stored its check value meanwhile: the one stored is the one to open.
        try openCheckValue(try await storage.storeMasterKeyCheckValue(try box.seal(Self.probeText, context: Self.probeContext)))
    }

    private func openCheckValue(_ sealed: Data) throws {
        guard (try? box.open(sealed, context: Self.probeContext)) == Self.probeText else {
            throw MasterKeyError(
                "the master key from \(box.masterKey.source) does not open the secrets in the gateway's database (every node of a cluster needs the same key); start with the key it was created with. Nothing was changed."
            )
        }
    }

    /// Creates an account; returns it with its client token (shown this once).
    public func add(accountId: String, _ input: AccountInput) async throws -> (account: Account, token: String) {
        let account = try Self.newAccount(accountId: accountId, input, at: now())
        guard let secret = input.secretAccessKey else {
            throw AccountError.invalid(field: "secret_access_key", "is required (give it on standard input)")
        }
        let token = ClientToken.generate()
        let record = AccountRecord(
            account,
            sealedSecret: try box.seal(secret, context: account.accountId),
            tokenHash: ClientToken.hash(token)
        )
        guard try await storage.insertAccount(record) else { throw AccountError.duplicate(account.accountId) }
        return (account, token)
    }

    /// A new account from `input`, validated, with the defaults for the fields it leaves out (the secret is not checked
    /// for presence here: `add` requires it).
    package static func newAccount(accountId: String, _ input: AccountInput, at time: Date) throws(AccountError) -> Account {
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
        return try input.applied(to: blank)
    }

    public func list() async throws -> [Account] {
        try await storage.accounts().map(\.account)
    }

    public func find(_ accountId: String) async throws -> Account {
        guard let record = try await storage.account(accountId) else { throw AccountError.notFound(accountId) }
        return record.account
    }

    /// Applies `input`; a new secret is sealed, an unchanged one kept.
    @discardableResult
    public func update(_ accountId: String, _ input: AccountInput) async throws -> Account {
        let sealed = try input.secretAccessKey.map { try box.seal($0, context: accountId) }
        let time = now()
        let updated = try await storage.updateAccount(accountId) { record in
            var account = try input.applied(to: record.account)
            account.updatedAt = time
            record = AccountRecord(account, sealedSecret: sealed ?? record.sealedSecret, tokenHash: record.tokenHash)
        }
        guard let updated else { throw AccountError.notFound(accountId) }
        return updated.account
    }

    public func remove(_ accountId: String) async throws {
        guard try await storage.deleteAccount(accountId) else { throw AccountError.notFound(accountId) }
    }

    /// Replaces the client token; the old one stops working at once. Returns the new token (shown this once).
    public func rotateToken(_ accountId: String) async throws -> String {
        let token = ClientToken.generate()
        let hash = ClientToken.hash(token)
        let time = now()
        let updated = try await storage.updateAccount(accountId) { record in
            record.tokenHash = hash
            record.updatedAt = time
        }
        guard updated != nil else { throw AccountError.notFound(accountId) }
        return token
    }

    /// Every account with its opened secret (nil when this master key cannot open it), for the server's
    /// in-memory directory, and the revision they were read at.
    func loadCredentials() async throws -> (revision: Int, accounts: [(record: AccountRecord, secret: String?)]) {
        let (revision, records) = try await storage.accountsWithRevision()
        return (revision, records.map { ($0, try? box.open($0.sealedSecret, context: $0.accountId)) })
    }
}
