public import Foundation
public import GRDB

extension QueuedUpload: FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "upload_queue"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension SQLiteDatabase {
    public func enqueue(_ upload: QueuedUpload, indexing object: StoredObject) async throws -> QueuedUpload {
        try enqueueNow(upload, indexing: object)
    }

    private func enqueueNow(_ upload: QueuedUpload, indexing object: StoredObject) throws -> QueuedUpload {
        var entry = upload
        // The row is what acknowledges the recording: it must survive a power cut, not only a crash, so
        // this one commit waits for the WAL to reach the disk (the rest of the database runs NORMAL).
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
            try db.inTransaction(.immediate) {
                try entry.insert(db)
                try object.upsert(into: db)
                return .commit
            }
        }
        return entry
    }

    public func replayOutlook(now: Date) async throws -> ReplayOutlook {
        try readNow { db in
            var due: [String: Int] = [:]
            let dueSQL = "SELECT account_id, count(*) FROM upload_queue WHERE state = 'pending' AND next_attempt_at <= ? GROUP BY account_id"
            for row in try Row.fetchAll(db, sql: dueSQL, arguments: [now]) { due[row[0]] = row[1] }
            let next = try Date.fetchOne(
                db,
                sql: "SELECT min(next_attempt_at) FROM upload_queue WHERE state = 'pending' AND next_attempt_at > ?",
                arguments: [now]
            )
            return ReplayOutlook(due: due, nextDueAt: next, paused: try Self.accountPauses(db))
        }
    }

    public func claimDue(_ shares: [String: Int], now: Date) async throws -> [QueuedUpload] {
        try writeNow { db in
            var claimed: [QueuedUpload] = []
            for (accountId, count) in shares.sorted(by: { $0.key < $1.key }) where count > 0 {
                let due = try QueuedUpload.filter(
                    Column("account_id") == accountId && Column("state") == QueuedUpload.State.pending.rawValue && Column("next_attempt_at") <= now
                )
                .order(Column("next_attempt_at"), Column("id"))
                .limit(count)
                .fetchAll(db)
                for entry in due { claimed.append(try Self.claim(entry, now: now, db)) }
            }
            return claimed
        }
    }

    public func claim(_ id: Int64, now: Date) async throws -> QueuedUpload? {
        try writeNow { db in
            guard let entry = try QueuedUpload.fetchOne(db, key: id), entry.state == .pending else { return nil }
            return try Self.claim(entry, now: now, db)
        }
    }

    private static func claim(_ entry: QueuedUpload, now: Date, _ db: Database) throws -> QueuedUpload {
        var claimed = entry
        claimed.state = .uploading
        claimed.attempts += 1
        claimed.updatedAt = now
        try claimed.update(db)
        return claimed
    }

    public func markStored(_ id: Int64, indexing object: StoredObject, now: Date) async throws -> Int {
        try writeNow { db in
            try Self.set(id, now: now, db) { entry in
                entry.state = .stored
                entry.lastError = nil
            }
            try object.upsert(into: db)
            return try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM upload_queue WHERE account_id = ? AND state IN ('pending', 'uploading')",
                arguments: [object.accountId]
            ) ?? 0
        }
    }

    public func markFailed(_ id: Int64, reason: String, now: Date) async throws {
        try set(id, now: now) {
            $0.state = .failed
            $0.lastError = reason
        }
    }

    public func reschedule(_ id: Int64, error: String, nextAttempt: Date, now: Date) async throws {
        try set(id, now: now) {
            $0.state = .pending
            $0.lastError = error
            $0.nextAttemptAt = nextAttempt
        }
    }

    public func recoverInterrupted(now: Date) async throws -> Int {
        try writeNow { db in
            try QueuedUpload.filter(Column("state") == QueuedUpload.State.uploading.rawValue)
                .updateAll(db, Column("state").set(to: QueuedUpload.State.pending.rawValue), Column("updated_at").set(to: now))
        }
    }

    public func retryNow(id: Int64?, accountId: String?, now: Date) async throws -> Int {
        try writeNow { db in
            var request = QueuedUpload.filter([QueuedUpload.State.pending.rawValue, QueuedUpload.State.failed.rawValue].contains(Column("state")))
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
                Column("state").set(to: QueuedUpload.State.pending.rawValue),
                Column("next_attempt_at").set(to: now),
                Column("updated_at").set(to: now)
            )
        }
    }

    /// SQLite is one node's: its rows name no node, so none is another node's to adopt.
    public func adopt(fromNode: String, spoolFiles: Set<String>, now: Date) async throws -> Int { 0 }

    public func delete(_ id: Int64) async throws {
        _ = try writeNow { db in try QueuedUpload.deleteOne(db, key: id) }
    }

    public func forgetStored(before cutoff: Date, limit: Int) async throws -> Int {
        try writeNow { db in
            try db.execute(
                sql: """
                    DELETE FROM upload_queue WHERE id IN
                    (SELECT id FROM upload_queue WHERE state = 'stored' AND updated_at < ? ORDER BY updated_at LIMIT ?)
                    """,
                arguments: [cutoff, limit]
            )
            return db.changesCount
        }
    }

    public func pause(accountId: String, reason: String, registryRevision: Int?, probes: Int, nextProbeAt: Date, now: Date) async throws -> Bool {
        try writeNow { db in
            if let registryRevision {
                guard try Self.registryRevision(db) == registryRevision else { return false }
            }
            try db.execute(
                sql: """
                    INSERT INTO account_pause (account_id, reason, paused_at, probes, next_probe_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (account_id) DO UPDATE SET probes = excluded.probes, next_probe_at = excluded.next_probe_at
                    """,
                arguments: [accountId, reason, now, probes, nextProbeAt]
            )
            return true
        }
    }

    public func resume(accountId: String, now: Date) async throws -> Int {
        try writeNow { db in
            try db.execute(sql: "DELETE FROM account_pause WHERE account_id = ?", arguments: [accountId])
            try db.execute(
                sql: "UPDATE upload_queue SET next_attempt_at = ? WHERE account_id = ? AND state = 'pending' AND next_attempt_at > ?",
                arguments: [now, accountId, now]
            )
            return db.changesCount
        }
    }

    public func accountPauses() async throws -> [String: AccountPause] {
        try readNow { db in try Self.accountPauses(db) }
    }

    private static func accountPauses(_ db: Database) throws -> [String: AccountPause] {
        var paused: [String: AccountPause] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT account_id, reason, paused_at, probes, next_probe_at FROM account_pause") {
            let pausedAt: Date = row[2]
            paused[row[0]] = AccountPause(reason: row[1], pausedAt: pausedAt, probes: row[3], nextProbeAt: row[4] ?? pausedAt)
        }
        return paused
    }

    public func upload(_ id: Int64) async throws -> QueuedUpload? {
        try readNow { db in try QueuedUpload.fetchOne(db, key: id) }
    }

    public func uploads(state: QueuedUpload.State?, accountId: String?, limit: Int?) async throws -> [QueuedUpload] {
        try readNow { db in
            var request = QueuedUpload.all()
            if let state { request = request.filter(Column("state") == state.rawValue) }
            if let accountId { request = request.filter(Column("account_id") == accountId) }
            request = request.order(Column("id"))
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    public func waitingUploads() async throws -> [QueuedUpload] {
        try readNow { db in
            try QueuedUpload.filter(Column("state") != QueuedUpload.State.stored.rawValue).order(Column("id")).fetchAll(db)
        }
    }

    public func referencedSpoolFiles() async throws -> Set<String> {
        try readNow { db in
            Set(try String.fetchAll(db, sql: "SELECT spool_file FROM upload_queue WHERE state != 'stored'"))
        }
    }

    public func queueSnapshot(now: Date) async throws -> QueueSnapshot {
        try readNow { db in
            let byState = try Row.fetchAll(db, sql: "SELECT state, count(*) FROM upload_queue GROUP BY state").map {
                (state: $0[0] as String, count: $0[1] as Int)
            }
            let since = now.addingTimeInterval(-QueueSnapshot.rateWindow)
            return QueueSnapshot(
                rowsByState: byState,
                oldestPending: try Date.fetchOne(db, sql: "SELECT min(created_at) FROM upload_queue WHERE state = 'pending'"),
                paused: try String.fetchSet(db, sql: "SELECT account_id FROM account_pause"),
                recentlyReplayed: try Int.fetchOne(
                    db,
                    sql: "SELECT count(*) FROM upload_queue WHERE state = 'stored' AND updated_at > ?",
                    arguments: [since]
                ) ?? 0,
                now: now
            )
        }
    }

    public func waitingCountsByAccount() async throws -> [String: [QueuedUpload.State: Int]] {
        try readNow { db in
            var counts: [String: [QueuedUpload.State: Int]] = [:]
            let sql = """
                SELECT account_id, state, count(*) FROM upload_queue WHERE state IN ('pending', 'uploading', 'failed')
                GROUP BY account_id, state
                """
            for row in try Row.fetchAll(db, sql: sql) {
                if let state = QueuedUpload.State(rawValue: row[1]) { counts[row[0], default: [:]][state] = row[2] }
            }
            return counts
        }
    }

    private func set(_ id: Int64, now: Date, _ change: (inout QueuedUpload) -> Void) throws {
        try writeNow { db in try Self.set(id, now: now, db, change) }
    }

    private static func set(_ id: Int64, now: Date, _ db: Database, _ change: (inout QueuedUpload) -> Void) throws {
        guard var entry = try QueuedUpload.fetchOne(db, key: id) else { return }
        change(&entry)
        entry.updatedAt = now
        try entry.update(db)
    }
}
