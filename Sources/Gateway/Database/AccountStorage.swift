public import Foundation

/// Where the account registry keeps accounts, the master key's check value, and a revision that
/// moves whenever any account changes (so every process sees changes made by another).
/// Implementations: `SQLiteDatabase`; the contract is `StorageContractTests`.
public protocol AccountStorage: Sendable {
    /// Whether secrets are sealed under some master key already (a check value or any account).
    func holdsSealedSecrets() async throws -> Bool
    /// The master key's check value, if one was stored.
    func masterKeyCheckValue() async throws -> Data?
    /// Stores the check value unless one exists; returns the one stored now (another node's may have won).
    func storeMasterKeyCheckValue(_ value: Data) async throws -> Data

    /// Adds an account; false (and nothing changed) when its id exists.
    func insertAccount(_ record: AccountRecord) async throws -> Bool
    func account(_ accountId: String) async throws -> AccountRecord?
    /// Every account, by name then id.
    func accounts() async throws -> [AccountRecord]
    /// Changes one account in one transaction; nil when there is no such account.
    func updateAccount(_ accountId: String, _ change: @Sendable (inout AccountRecord) throws -> Void) async throws -> AccountRecord?
    /// Removes one account; false when there was none.
    func deleteAccount(_ accountId: String) async throws -> Bool

    /// A counter that moves whenever any account is added, changed or removed.
    func registryRevision() async throws -> Int
    /// Every account with the revision they were read at (one consistent read).
    func accountsWithRevision() async throws -> (revision: Int, records: [AccountRecord])
    /// Returns when the accounts may have changed, or after `timeout` at the latest; the caller then
    /// reloads if `registryRevision` moved. A storage that can push changes returns at once.
    func waitForAccountChanges(timeout: Duration) async throws
}
