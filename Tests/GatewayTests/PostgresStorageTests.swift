import Foundation
import Logging
import TestSupport
import Testing

@testable import Gateway

/// What PostgreSQL adds to the storage contract: several nodes on one database.
struct PostgresStorageTests {
    static let logger = Logger(label: "postgres-test")

    /// Two nodes on one fresh database.
    static func twoNodes(_ first: String = "a", _ second: String = "b") async throws -> (PostgresDatabase, PostgresDatabase) {
        let url = try DatabaseURL(try TestPostgres.freshDatabaseURL())
        return (
            try await PostgresDatabase.open(url: url, nodeId: first, logger: logger),
            try await PostgresDatabase.open(url: url, nodeId: second, logger: logger)
        )
    }

    @Test func nodesMigrateOnceTogetherAndAnOlderBinaryRefusesANewerSchema() async throws {
        let url = try DatabaseURL(try TestPostgres.freshDatabaseURL())
        // Two nodes start at once on an empty database: the advisory lock lets one migrate, the other waits.
        async let first = PostgresDatabase.open(url: url, nodeId: "a", logger: Self.logger)
        async let second = PostgresDatabase.open(url: url, nodeId: "b", logger: Self.logger)
        let (a, b) = try await (first, second)
        #expect(try await a.value("SELECT version FROM rg_schema", as: Int.self) == PostgresMigrations.currentVersion)
        // A newer binary moved the schema on: this one refuses, and changes nothing.
        try await a.client.query("UPDATE rg_schema SET version = version + 1", logger: Self.logger)
        let refused = await #expect(throws: DatabaseUnavailable.self) {
            _ = try await PostgresDatabase.open(url: url, nodeId: "c", logger: Self.logger)
        }
        #expect(refused?.description.contains("newer than this binary knows") == true, "\(String(describing: refused))")
        #expect(try await a.value("SELECT version FROM rg_schema", as: Int.self) == PostgresMigrations.currentVersion + 1)
        await a.close()
        await b.close()
    }

    @Test func theClusterHasOneMasterKeyGivenNeverMadeUpAndANodeWithAnotherRefusesToStart() async throws {
        let directory = NSTemporaryDirectory() + "rg-pg-key-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var config = GatewayConfig()
        config.dataDir = directory
        config.databaseURL = try TestPostgres.freshDatabaseURL()
        // No key given: refused, and no key file made up (each node would make up its own).
        let missing = await #expect(throws: MasterKeyError.self) { _ = try await GatewayBootstrap.openStorage(config: config, environment: [:]) }
        #expect(missing?.description.contains("one master key") == true, "\(String(describing: missing))")
        #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"))
        // The first node's key stores the check value; a node with another key changes nothing and stops.
        let key = MasterKey.generateEncoded()
        let first = try await GatewayBootstrap.openStorage(config: config, environment: [MasterKey.environmentVariable: key])
        let check = try await first.storage.masterKeyCheckValue()
        #expect(check != nil)
        let other = await #expect(throws: MasterKeyError.self) {
            _ = try await GatewayBootstrap.openStorage(config: config, environment: [MasterKey.environmentVariable: MasterKey.generateEncoded()])
        }
        #expect(other?.description.contains("does not open") == true)
        #expect(try await first.storage.masterKeyCheckValue() == check)
        // The same key from a file (master_key_file) opens it.
        let file = directory + "-key"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(key.utf8).write(to: URL(fileURLWithPath: file))
        config.masterKeyFile = file
        let second = try await GatewayBootstrap.openStorage(config: config, environment: [:])
        await second.storage.close()
        await first.storage.close()
    }

    @Test func anAccountAddedOnOneNodeWakesTheOthersAtOnce() async throws {
        let (a, b) = try await Self.twoNodes()
        // The first wait returns at once: the listener (re)connected, so a change may have been missed.
        try await b.waitForAccountChanges(timeout: .seconds(10))
        let before = try await b.registryRevision()
        let started = ContinuousClock.now
        async let woken: Void = b.waitForAccountChanges(timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await a.insertAccount(StorageContractTests.record(StorageContractTests.first)))
        try await woken
        #expect(ContinuousClock.now - started < .seconds(3), "notified, not polled (the wait was 10 s)")
        #expect(try await b.registryRevision() == before + 1)
        await a.close()
        await b.close()
    }

    @Test func eachNodeClaimsRecoversAndKeepsOnlyItsOwnRows() async throws {
        let (a, b) = try await Self.twoNodes()
        let start = StorageContractTests.start
        let account = StorageContractTests.first
        let fromA = try await StorageContractTests.enqueue(a, "from-a", account: account, lastError: nil, at: start)
        let fromB = try await StorageContractTests.enqueue(b, "from-b", account: account, lastError: nil, at: start)
        #expect(fromA.nodeId == "a" && fromB.nodeId == "b")
        #expect(try await a.replayOutlook(now: start).due == [account: 1])
        #expect(try await a.claimDue([account: 10], now: start).map(\.objectKey) == ["from-a"])
        #expect(try await b.claim(try #require(fromA.id), now: start) == nil, "a's row is not b's to replay")
        #expect(try await a.referencedSpoolFiles() == ["from-a.spool"])
        #expect(try await b.referencedSpoolFiles() == ["from-b.spool"])
        #expect(try await b.recoverInterrupted(now: start) == 0, "b does not take back a's row")
        #expect(try await a.recoverInterrupted(now: start) == 1)
        // Both nodes claim at once, many times: no row goes to two claims.
        for index in 0..<40 { _ = try await StorageContractTests.enqueue(a, "many-\(index)", account: account, lastError: nil, at: start) }
        async let first = a.claimDue([account: 25], now: start)
        async let second = a.claimDue([account: 25], now: start)
        let (x, y) = try await (first, second)
        #expect(Set(x.compactMap(\.id)).isDisjoint(with: Set(y.compactMap(\.id))))
        #expect(x.count + y.count == 41)
        // Every node sees every row when listing, and the object index is shared.
        #expect(try await b.uploads(state: nil, accountId: account).count == 42)
        #expect(try await b.longestStoredPrefix(accountId: account, segments: ["from-a"])?.key == "from-a")
        await a.close()
        await b.close()
    }

    @Test func aLiveNodeAdoptsTheRowsOfADeadOnesFilesItWasGiven() async throws {
        let (dead, live) = try await Self.twoNodes("dead", "live")
        let start = StorageContractTests.start
        let account = StorageContractTests.first
        let moved = try await StorageContractTests.enqueue(dead, "moved", account: account, lastError: "S3 down", at: start)
        _ = try await StorageContractTests.enqueue(dead, "lost", account: account, lastError: "S3 down", at: start)
        _ = try await dead.claimDue([account: 1], now: start)  // it died mid-replay: the row is `uploading`
        #expect(try await live.longestStoredPrefix(accountId: account, segments: ["moved"])?.pendingNode == "dead")
        // Only the file the operator moved over is adopted.
        #expect(try await live.adopt(fromNode: "dead", spoolFiles: ["moved.spool", "unrelated.spool"], now: start) == 1)
        let movedId = try #require(moved.id)
        let row = try #require(try await live.upload(movedId))
        #expect(row.nodeId == "live" && row.state == .pending)
        #expect(try await live.referencedSpoolFiles() == ["moved.spool"])
        #expect(try await dead.referencedSpoolFiles() == ["lost.spool"])
        #expect(try await live.longestStoredPrefix(accountId: account, segments: ["moved"])?.pendingNode == "live")
        #expect(try await live.longestStoredPrefix(accountId: account, segments: ["lost"])?.pendingNode == "dead")
        #expect(try await live.replayOutlook(now: start).due == [account: 1])
        await dead.close()
        await live.close()
    }

    @Test func tlsAsLibpqMeansItAndAUnixSocket() async throws {
        let postgres = try PrivatePostgres(tls: true)
        /// Whether the connection `url` makes is encrypted, as the server sees it.
        func encrypted(_ url: String) async throws -> Bool {
            let database = try await PostgresDatabase.open(url: DatabaseURL(url), nodeId: "tls", logger: Self.logger)
            let ssl = try await database.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", as: Bool.self) ?? false
            await database.close()
            return ssl
        }
        #expect(try await encrypted(postgres.url() + "?sslmode=require"), "encrypted, the self-signed certificate taken")
        #expect(try await encrypted(postgres.url()) == false)
        let unverified = await #expect(throws: DatabaseUnavailable.self) { _ = try await encrypted(postgres.url() + "?sslmode=verify-full") }
        #expect(unverified?.description.contains("sslmode=verify-full") == true, "\(String(describing: unverified))")
        #expect(try await encrypted("postgres://rg@localhost:\(postgres.port)/postgres?host=\(postgres.directory)") == false, "a Unix socket")
    }
}
