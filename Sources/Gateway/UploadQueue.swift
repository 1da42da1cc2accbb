public import Foundation
public import GRDB

/// The durable retry queue (issue 5): one row per spooled upload, in the gateway's database.
/// States: `pending` (waiting for `next_attempt_at`), `uploading` (a worker has it), `stored`
/// (confirmed by S3; the spool file may go), `failed` (will not be retried without an operator,
/// e.g. a spool file that failed its integrity check).
public struct UploadQueue: Sendable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case pending, uploading, stored, failed
    }

    public struct Entry: Sendable, Hashable, Codable, FetchableRecord, MutablePersistableRecord {
        public static let databaseTableName = "upload_queue"
        public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
        public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

        public var id: Int64?
        public var accountId: String
        public var objectKey: String
        public var requestPath: String
        public var spoolFile: String
        public var size: Int
        public var checksum: String
        public var state: State
        public var attempts: Int
        public var nextAttemptAt: Date
        /// Operator-facing, never a secret.
        public var lastError: String?
        public var createdAt: Date
        public var updatedAt: Date

        public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
    }

    let database: AppDatabase

    public init(database: AppDatabase) { self.database = database }

    /// Commits a row for a spool file that is already durable; the upload is acknowledged after this.
    @discardableResult
    func enqueue(
        accountId: String,
        objectKey: String,
        requestPath: String,
        spoolFile: String,
        size: Int,
        checksum: String,
        lastError: String?,
        firstAttemptAt: Date? = nil,
        indexing object: StoredObject? = nil,
        now: Date = Date()
    ) throws -> Entry {
        var entry = Entry(
            id: nil,
            accountId: accountId,
            objectKey: objectKey,
            requestPath: requestPath,
            spoolFile: spoolFile,
            size: size,
            checksum: checksum,
            state: .pending,
            attempts: 0,
            nextAttemptAt: firstAttemptAt ?? now,
            lastError: lastError,
            createdAt: now,
            updatedAt: now
        )
        // The row is what acknowledges the recording: it must survive a power cut, not only a crash, so
        // this one commit waits for the WAL to reach the disk (the rest of the database runs NORMAL).
        try database.writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
            try db.inTransaction(.immediate) {
                try entry.insert(db)
                try object?.save(db)
                return .commit
            }
        }
        return entry
    }

    /// Takes up to `limit` due pending rows (oldest first), marking them `uploading` in one transaction,
    /// so two workers never take the same row. With `onePerAccount`, at most one row per account (the
    /// worker keeps one replay per account in flight: a refused account costs one attempt, not one per slot).
    public func claimDue(
        limit: Int,
        now: Date = Date(),
        excludingAccounts excluded: Set<String> = [],
        onePerAccount: Bool = false
    ) throws -> [Entry] {
        try database.writer.write { db in
            var request = Entry.filter(Column("state") == State.pending.rawValue && Column("next_attempt_at") <= now)
            if !excluded.isEmpty { request = request.filter(!excluded.contains(Column("account_id"))) }
            request = request.order(Column("next_attempt_at"), Column("id"))
            var due: [Entry] = []
            if onePerAccount {
                var accounts = Set<String>()
                let cursor = try request.fetchCursor(db)
                while due.count < limit, let entry = try cursor.next() {
                    if accounts.insert(entry.accountId).inserted { due.append(entry) }
                }
            } else {
                due = try request.limit(limit).fetchAll(db)
            }
            return try due.map { entry in
                var claimed = entry
                claimed.state = .uploading
                claimed.attempts += 1
                claimed.updatedAt = now
                try claimed.update(db)
                return claimed
            }
        }
    }

    /// Takes one pending row (the operator's `queue replay ID`), as `claimDue` would.
    public func claim(_ id: Int64, now: Date = Date()) throws -> Entry? {
        try database.writer.write { db in
            guard var entry = try Entry.fetchOne(db, key: id), entry.state == .pending else { return nil }
            entry.state = .uploading
            entry.attempts += 1
            entry.updatedAt = now
            try entry.update(db)
            return entry
        }
    }

    /// S3 confirmed the object: the row is `stored` and the index row records its ETag, in one transaction.
    func markStored(_ id: Int64, indexing object: StoredObject? = nil, now: Date = Date()) throws {
        try set(
            id,
            now: now,
            also: { db in try object?.save(db) },
            { entry in
                entry.state = .stored
                entry.lastError = nil
            }
        )
    }

    public func markFailed(_ id: Int64, reason: String, now: Date = Date()) throws {
        try set(id, now: now) {
            $0.state = .failed
            $0.lastError = reason
        }
    }

    /// Back to `pending`, due at `nextAttempt`, remembering why.
    public func reschedule(_ id: Int64, error: String, nextAttempt: Date, now: Date = Date()) throws {
        try set(id, now: now) {
            $0.state = .pending
            $0.lastError = error
            $0.nextAttemptAt = nextAttempt
        }
    }

    /// After a crash: rows a dead worker held go back to `pending`. Returns how many.
    @discardableResult
    public func recoverInterrupted(now: Date = Date()) throws -> Int {
        try database.writer.write { db in
            try Entry.filter(Column("state") == State.uploading.rawValue)
                .updateAll(db, Column("state").set(to: State.pending.rawValue), Column("updated_at").set(to: now))
        }
    }

    /// Makes pending (and failed) rows due now: one row, an account's, or all; the accounts of those rows
    /// are resumed if they were paused. Returns how many rows.
    @discardableResult
    public func retryNow(id: Int64? = nil, accountId: String? = nil, now: Date = Date()) throws -> Int {
        try database.writer.write { db in
            var request = Entry.filter([State.pending.rawValue, State.failed.rawValue].contains(Column("state")))
            if let id { request = request.filter(Column("id") == id) }
            if let accountId { request = request.filter(Column("account_id") == accountId) }
            let accounts = try String.fetchSet(db, request.select(Column("account_id"), as: String.self).distinct())
            if id == nil && accountId == nil {
                try db.execute(sql: "DELETE FROM account_pause")
            } else {
                for account in accounts.union(accountId.map { [$0] } ?? []) {
                    try db.execute(sql: "DELETE FROM account_pause WHERE account_id = ?", arguments: [account])
                }
            }
            return try request.updateAll(
                db,
                Column("state").set(to: State.pending.rawValue),
                Column("next_attempt_at").set(to: now),
                Column("updated_at").set(to: now)
            )
        }
    }

    // MARK: The circuit breaker

    /// Pauses an account's replays (idempotent; the first reason stays) — unless the accounts changed since
    /// `registryRevision`, the one the failed attempt used: a secret fixed meanwhile must not be paused
    /// for the old secret's failure. Returns whether the account is paused.
    @discardableResult
    func pause(accountId: String, reason: String, registryRevision: Int? = nil, now: Date = Date()) throws -> Bool {
        try database.writer.write { db in
            if let registryRevision {
                let current = try AppDatabase.registryRevision(db)
                guard current == registryRevision else { return false }
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO account_pause (account_id, reason, paused_at) VALUES (?, ?, ?)",
                arguments: [accountId, reason, now]
            )
            return true
        }
    }

    /// Paused accounts and why.
    public func pausedAccounts() throws -> [String: String] {
        try database.writer.read { db in
            var paused: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT account_id, reason FROM account_pause") { paused[row[0]] = row[1] }
            return paused
        }
    }

    /// What `/metrics` shows of the queue: rows by state, the oldest pending row's age, paused accounts.
    struct MetricsSnapshot {
        var counts: [State: Int]
        var oldestPendingAge: Double?
        var paused: Set<String>
    }

    func metricsSnapshot(now: Date) throws -> MetricsSnapshot {
        try database.writer.read { db in
            var counts: [State: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM upload_queue GROUP BY state") {
                if let state = State(rawValue: row[0]) { counts[state] = row[1] }
            }
            let oldest = try Date.fetchOne(db, sql: "SELECT min(created_at) FROM upload_queue WHERE state = 'pending'")
            let paused = try String.fetchSet(db, sql: "SELECT account_id FROM account_pause")
            return MetricsSnapshot(counts: counts, oldestPendingAge: oldest.map { now.timeIntervalSince($0) }, paused: paused)
        }
    }

    /// Rows not yet stored, by account and state (accounts with none are absent).
    func waitingCountsByAccount() throws -> [String: [State: Int]] {
        try database.writer.read { db in
            var counts: [String: [State: Int]] = [:]
            let sql = """
                SELECT account_id, state, count(*) FROM upload_queue WHERE state IN ('pending', 'uploading', 'failed')
                GROUP BY account_id, state
                """
            for row in try Row.fetchAll(db, sql: sql) {
                if let state = State(rawValue: row[1]) { counts[row[0], default: [:]][state] = row[2] }
            }
            return counts
        }
    }

    public func entry(_ id: Int64) throws -> Entry? {
        try database.writer.read { db in try Entry.fetchOne(db, key: id) }
    }

    /// Deletes a row (the operator's `queue discard`); the caller removes its spool file.
    func delete(_ id: Int64) throws {
        _ = try database.writer.write { db in try Entry.deleteOne(db, key: id) }
    }

    /// Rows oldest first, at most `limit` of them.
    public func list(state: State? = nil, accountId: String? = nil, limit: Int? = nil) throws -> [Entry] {
        try database.writer.read { db in
            var request = Entry.all()
            if let state { request = request.filter(Column("state") == state.rawValue) }
            if let accountId { request = request.filter(Column("account_id") == accountId) }
            request = request.order(Column("id"))
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    /// Spool file names some row still refers to (files without one were never acknowledged).
    public func referencedSpoolFiles() throws -> Set<String> {
        try database.writer.read { db in
            Set(try String.fetchAll(db, sql: "SELECT spool_file FROM upload_queue WHERE state != 'stored'"))
        }
    }

    func set(_ id: Int64, now: Date, also: (Database) throws -> Void = { _ in }, _ change: (inout Entry) -> Void) throws {
        try database.writer.write { db in
            guard var entry = try Entry.fetchOne(db, key: id) else { return }
            change(&entry)
            entry.updatedAt = now
            try entry.update(db)
            try also(db)
        }
    }
}
