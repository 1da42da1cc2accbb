import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import S3

/// The server's in-memory view of the accounts: each with its S3 client (its own credentials), found by
/// the hash of its client token or by its id. Reloaded when the registry's revision changes, so accounts
/// added or changed from the command line (another process) take effect within a second.
final class AccountDirectory: Sendable {
    /// A class: requests pass it around by reference rather than copying an account and a client.
    final class Entry: Sendable {
        let account: Account
        let tokenHash: String
        let client: S3Client

        init(account: Account, tokenHash: String, client: S3Client) {
            self.account = account
            self.tokenHash = tokenHash
            self.client = client
        }
    }

    struct Snapshot: Sendable {
        var revision = -1
        var byTokenHash: [String: Entry] = [:]
        var byId: [String: Entry] = [:]
    }

    let registry: AccountRegistry
    let http: HTTPClient
    let s3Configuration: S3ClientConfiguration
    let logger: Logger
    private let snapshot = NIOLockedValueBox(Snapshot())
    /// One retry budget per S3 host, shared by every account there, so an outage is not multiplied by accounts.
    private let retryBudgets = NIOLockedValueBox<[String: RetryBudget]>([:])
    /// Reloads asked for by unknown tokens this second: at most `unknownTokenReloadsPerSecond`.
    private let unknownTokenReloads = NIOLockedValueBox<(second: Int64, count: Int)>((0, 0))
    static let unknownTokenReloadsPerSecond = 10

    init(registry: AccountRegistry, http: HTTPClient, s3Configuration: S3ClientConfiguration, logger: Logger) {
        self.registry = registry
        self.http = http
        self.s3Configuration = s3Configuration
        self.logger = logger
    }

    /// A request named no account this node knows: it may be one added a moment ago (by the command line,
    /// another node, the admin API), so the accounts are read again if they changed, before a 401 — at most
    /// `unknownTokenReloadsPerSecond` times a second, so guessing tokens cannot load the database. Whether it read.
    func reloadForUnknownCredentials() async -> Bool {
        let second = Int64(Date().timeIntervalSince1970)
        let allowed = unknownTokenReloads.withLockedValue { reloads in
            if reloads.second != second { reloads = (second, 0) }
            reloads.count += 1
            return reloads.count <= Self.unknownTokenReloadsPerSecond
        }
        guard allowed else { return false }
        do {
            try await refresh()
            return true
        } catch {
            logger.warning("cannot read the account registry: \(error)")
            return false
        }
    }

    func entry(forTokenHash hash: String) -> Entry? {
        guard let entry = snapshot.withLockedValue({ $0.byTokenHash[hash] }) else { return nil }
        return ClientToken.hashesMatch(entry.tokenHash, hash) ? entry : nil
    }

    func entry(forAccountId id: String) -> Entry? { snapshot.withLockedValue { $0.byId[id] } }

    /// The account's entry with the registry revision it was loaded at.
    func entryWithRevision(forAccountId id: String) -> (entry: Entry?, revision: Int) {
        snapshot.withLockedValue { ($0.byId[id], $0.revision) }
    }

    var count: Int { snapshot.withLockedValue { $0.byId.count } }

    var accountIds: [String] { snapshot.withLockedValue { Array($0.byId.keys) } }

    /// Rebuilds the directory if any account changed since the last load.
    func refresh() async throws {
        let current = snapshot.withLockedValue { $0.revision }
        guard try await registry.storage.registryRevision() != current else { return }
        let (revision, loaded) = try await registry.loadCredentials()
        var next = Snapshot(revision: revision)
        for (record, secret) in loaded {
            let account = record.account
            guard let secret else {
                logger.error(
                    "account's secret cannot be opened with this master key; its requests are refused",
                    metadata: ["account_id": "\(account.accountId)"]
                )
                continue
            }
            let endpoint: S3Endpoint
            do {
                endpoint = try account.endpoint()
            } catch {
                logger.error("account's S3 endpoint is not valid: \(error)", metadata: ["account_id": "\(account.accountId)"])
                continue
            }
            let budget = retryBudgets.withLockedValue { budgets in
                if let budget = budgets[endpoint.host] { return budget }
                let budget = RetryBudget()
                budgets[endpoint.host] = budget
                return budget
            }
            var accountLogger = logger
            accountLogger[metadataKey: "account_id"] = "\(account.accountId)"
            let client = S3Client(
                endpoint: endpoint,
                bucket: account.bucket,
                credentials: Credentials(accessKeyId: account.accessKeyId, secretAccessKey: secret),
                http: http,
                configuration: s3Configuration,
                retryBudget: budget,
                logger: accountLogger
            )
            let entry = Entry(account: account, tokenHash: record.tokenHash, client: client)
            next.byTokenHash[record.tokenHash] = entry
            next.byId[account.accountId] = entry
        }
        let loadedCount = next.byId.count
        snapshot.withLockedValue { $0 = next }
        logger.info("accounts loaded", metadata: ["accounts": "\(loadedCount)", "revision": "\(revision)"])
    }
}
