public import Foundation
import PostgresNIO

/// The upload queue shared by the nodes: each row names the node whose spool holds its file (`node_id`);
/// a node claims, recovers and keeps files for its own rows only, and claims skip rows another
/// transaction holds (`FOR UPDATE SKIP LOCKED`), so no row is replayed by two nodes. Reading, retrying and
/// pausing see every node's rows.
extension PostgresDatabase {
    static let queueColumns = """
        id, node_id, account_id, object_key, request_path, spool_file, size, checksum, state, attempts, next_attempt_at,
        last_error, created_at, updated_at
        """

    static func queuedUpload(_ row: PostgresRandomAccessRow) throws -> QueuedUpload {
        QueuedUpload(
            id: try row["id"].decode(Int64.self),
            nodeId: try row["node_id"].decode(String.self),
            accountId: try row["account_id"].decode(String.self),
            objectKey: try row["object_key"].decode(String.self),
            requestPath: try row["request_path"].decode(String.self),
            spoolFile: try row["spool_file"].decode(String.self),
            size: try row["size"].decode(Int.self),
            checksum: try row["checksum"].decode(String.self),
            state: QueuedUpload.State(rawValue: try row["state"].decode(String.self)) ?? .failed,
            attempts: try row["attempts"].decode(Int.self),
            nextAttemptAt: try row["next_attempt_at"].decode(Date.self),
            lastError: try row["last_error"].decode(String?.self),
            createdAt: try row["created_at"].decode(Date.self),
            updatedAt: try row["updated_at"].decode(Date.self)
        )
    }

    public func enqueue(_ upload: QueuedUpload, indexing object: StoredObject) async throws -> QueuedUpload {
        try await transaction { [self] connection in
            let id = try await value(
                """
                INSERT INTO upload_queue (node_id, account_id, object_key, request_path, spool_file, size, checksum, state, attempts,
                    next_attempt_at, last_error, created_at, updated_at)
                VALUES (\(nodeId), \(upload.accountId), \(upload.objectKey), \(upload.requestPath), \(upload.spoolFile), \(upload.size),
                    \(upload.checksum), \(upload.state.rawValue), \(upload.attempts), \(upload.nextAttemptAt), \(upload.lastError),
                    \(upload.createdAt), \(upload.updatedAt))
                RETURNING id
                """,
                as: Int64.self,
                on: connection
            )
            try await connection.query(Self.upsert(object, pendingNode: nodeId), logger: logger)
            var entry = upload
            entry.id = id
            entry.nodeId = nodeId
            return entry
        }
    }

    public func replayOutlook(now: Date) async throws -> ReplayOutlook {
        try await transaction { [self] connection in
            var due: [String: Int] = [:]
            let counts = try await rows(
                """
                SELECT account_id, count(*) FROM upload_queue WHERE node_id = \(nodeId) AND state = 'pending' AND next_attempt_at <= \(now)
                GROUP BY account_id
                """,
                on: connection
            ) { row in (try row[0].decode(String.self), try row[1].decode(Int.self)) }
            for (accountId, count) in counts { due[accountId] = count }
            let next = try await value(
                "SELECT min(next_attempt_at) FROM upload_queue WHERE node_id = \(nodeId) AND state = 'pending' AND next_attempt_at > \(now)",
                as: Date.self,
                on: connection
            )
            return ReplayOutlook(due: due, nextDueAt: next, paused: try await accountPauses(on: connection))
        }
    }

    public func claimDue(_ shares: [String: Int], now: Date) async throws -> [QueuedUpload] {
        try await transaction { [self] connection in
            var claimed: [QueuedUpload] = []
            for (accountId, count) in shares.sorted(by: { $0.key < $1.key }) where count > 0 {
                claimed += try await rows(
                    """
                    UPDATE upload_queue SET state = 'uploading', attempts = attempts + 1, updated_at = \(now)
                    WHERE id IN (
                        SELECT id FROM upload_queue WHERE node_id = \(nodeId) AND account_id = \(accountId) AND state = 'pending'
                        AND next_attempt_at <= \(now) ORDER BY next_attempt_at, id LIMIT \(count) FOR UPDATE SKIP LOCKED)
                    RETURNING \(unescaped: Self.queueColumns)
                    """,
                    on: connection,
                    Self.queuedUpload
                )
                .sorted { ($0.nextAttemptAt, $0.id ?? 0) < ($1.nextAttemptAt, $1.id ?? 0) }
            }
            return claimed
        }
    }

    public func claim(_ id: Int64, now: Date) async throws -> QueuedUpload? {
        try await rows(
            """
            UPDATE upload_queue SET state = 'uploading', attempts = attempts + 1, updated_at = \(now)
            WHERE id = \(id) AND node_id = \(nodeId) AND state = 'pending' RETURNING \(unescaped: Self.queueColumns)
            """,
            Self.queuedUpload
        ).first
    }

    public func markStored(_ id: Int64, indexing object: StoredObject, now: Date) async throws -> Int {
        try await transaction { [self] connection in
            try await connection.query(
                "UPDATE upload_queue SET state = 'stored', last_error = NULL, updated_at = \(now) WHERE id = \(id)",
                logger: logger
            )
            try await connection.query(Self.upsert(object), logger: logger)
            return try await value(
                "SELECT count(*) FROM upload_queue WHERE account_id = \(object.accountId) AND state IN ('pending', 'uploading')",
                as: Int.self,
                on: connection
            ) ?? 0
        }
    }

    public func markFailed(_ id: Int64, reason: String, now: Date) async throws {
        try await execute(
            "UPDATE upload_queue SET state = 'failed', last_error = \(reason), updated_at = \(now) WHERE id = \(id)"
        )
    }

    public func reschedule(_ id: Int64, error: String, nextAttempt: Date, now: Date) async throws {
        try await execute(
            """
            UPDATE upload_queue SET state = 'pending', last_error = \(error), next_attempt_at = \(nextAttempt), updated_at = \(now)
            WHERE id = \(id)
            """
        )
    }

    public func recoverInterrupted(now: Date) async throws -> Int {
        try await rows(
            """
            UPDATE upload_queue SET state = 'pending', updated_at = \(now) WHERE node_id = \(nodeId) AND state = 'uploading'
            RETURNING id
            """
        ) { row in try row[0].decode(Int64.self) }.count
    }

    public func retryNow(id: Int64?, accountId: String?, now: Date) async throws -> Int {
        try await transaction { [self] connection in
            // One row, an account's rows, or every row (an id or an account narrows; neither: all).
            let ids = try await rows(
                """
                UPDATE upload_queue SET state = 'pending', next_attempt_at = \(now), updated_at = \(now)
                WHERE state IN ('pending', 'failed') AND (\(id)::BIGINT IS NULL OR id = \(id))
                    AND (\(accountId)::TEXT IS NULL OR account_id = \(accountId))
                RETURNING account_id
                """,
                on: connection
            ) { row in try row[0].decode(String.self) }
            if id == nil && accountId == nil {
                try await connection.query("DELETE FROM account_pause", logger: logger)
            } else {
                let accounts = Array(Set(ids).union(accountId.map { [$0] } ?? []))
                try await connection.query("DELETE FROM account_pause WHERE account_id = ANY(\(accounts))", logger: logger)
            }
            return ids.count
        }
    }

    public func adopt(fromNode: String, spoolFiles: Set<String>, now: Date) async throws -> Int {
        try await transaction { [self] connection in
            let files = Array(spoolFiles)
            let adopted = try await rows(
                """
                UPDATE upload_queue SET node_id = \(nodeId), state = 'pending', next_attempt_at = \(now), updated_at = \(now)
                WHERE node_id = \(fromNode) AND state IN ('pending', 'uploading', 'failed') AND spool_file = ANY(\(files))
                RETURNING id
                """,
                on: connection
            ) { row in try row[0].decode(Int64.self) }
            try await connection.query(
                """
                UPDATE stored_object SET pending_node = \(nodeId) WHERE pending_node = \(fromNode) AND EXISTS (
                    SELECT 1 FROM upload_queue q WHERE q.node_id = \(nodeId) AND q.state <> 'stored'
                    AND q.account_id = stored_object.account_id AND q.request_path = stored_object.request_path)
                """,
                logger: logger
            )
            return adopted.count
        }
    }

    public func delete(_ id: Int64) async throws {
        try await execute("DELETE FROM upload_queue WHERE id = \(id)")
    }

    public func forgetStored(before cutoff: Date, limit: Int) async throws -> Int {
        try await rows(
            """
            DELETE FROM upload_queue WHERE id IN
            (SELECT id FROM upload_queue WHERE state = 'stored' AND updated_at < \(cutoff) ORDER BY updated_at LIMIT \(limit))
            RETURNING id
            """
        ) { row in try row[0].decode(Int64.self) }.count
    }

    public func pause(accountId: String, reason: String, registryRevision: Int?, probes: Int, nextProbeAt: Date, now: Date) async throws -> Bool {
        try await transaction { [self] connection in
            if let registryRevision {
                // Locks the revision: an account change waits for this pause, or this pause sees it.
                let current = try await value("SELECT revision FROM registry_revision WHERE id = 1 FOR UPDATE", as: Int.self, on: connection)
                guard current == registryRevision else { return false }
            }
            try await connection.query(
                """
                INSERT INTO account_pause (account_id, reason, paused_at, probes, next_probe_at)
                VALUES (\(accountId), \(reason), \(now), \(probes), \(nextProbeAt))
                ON CONFLICT (account_id) DO UPDATE SET probes = excluded.probes, next_probe_at = excluded.next_probe_at
                """,
                logger: logger
            )
            return true
        }
    }

    public func resume(accountId: String, now: Date) async throws -> Int {
        try await transaction { [self] connection in
            try await connection.query("DELETE FROM account_pause WHERE account_id = \(accountId)", logger: logger)
            return try await rows(
                """
                UPDATE upload_queue SET next_attempt_at = \(now)
                WHERE account_id = \(accountId) AND state = 'pending' AND next_attempt_at > \(now) RETURNING id
                """,
                on: connection
            ) { row in try row[0].decode(Int64.self) }.count
        }
    }

    public func accountPauses() async throws -> [String: AccountPause] {
        try await accountPauses(on: nil)
    }

    private func accountPauses(on connection: PostgresConnection?) async throws -> [String: AccountPause] {
        let found = try await rows("SELECT account_id, reason, paused_at, probes, next_probe_at FROM account_pause", on: connection) { row in
            let pausedAt = try row[2].decode(Date.self)
            let pause = AccountPause(
                reason: try row[1].decode(String.self),
                pausedAt: pausedAt,
                probes: try row[3].decode(Int.self),
                nextProbeAt: try row[4].decode(Date?.self) ?? pausedAt
            )
            return (try row[0].decode(String.self), pause)
        }
        return Dictionary(found, uniquingKeysWith: { first, _ in first })
    }

    public func upload(_ id: Int64) async throws -> QueuedUpload? {
        try await rows("SELECT \(unescaped: Self.queueColumns) FROM upload_queue WHERE id = \(id)", Self.queuedUpload).first
    }

    public func uploads(state: QueuedUpload.State?, accountId: String?, limit: Int?) async throws -> [QueuedUpload] {
        try await rows(
            """
            SELECT \(unescaped: Self.queueColumns) FROM upload_queue
            WHERE (\(state?.rawValue)::TEXT IS NULL OR state = \(state?.rawValue)) AND (\(accountId)::TEXT IS NULL OR account_id = \(accountId))
            ORDER BY id LIMIT \(limit)
            """,
            Self.queuedUpload
        )
    }

    public func waitingUploads() async throws -> [QueuedUpload] {
        try await rows("SELECT \(unescaped: Self.queueColumns) FROM upload_queue WHERE state <> 'stored' ORDER BY id", Self.queuedUpload)
    }

    public func referencedSpoolFiles() async throws -> Set<String> {
        Set(
            try await rows("SELECT spool_file FROM upload_queue WHERE node_id = \(nodeId) AND state <> 'stored'") { row in
                try row[0].decode(String.self)
            }
        )
    }

    public func queueSnapshot(now: Date) async throws -> QueueSnapshot {
        try await transaction { [self] connection in
            let byState = try await rows("SELECT state, count(*) FROM upload_queue WHERE node_id = \(nodeId) GROUP BY state", on: connection) { row in
                (state: try row[0].decode(String.self), count: try row[1].decode(Int.self))
            }
            let since = now.addingTimeInterval(-QueueSnapshot.rateWindow)
            let recentSQL: PostgresQuery =
                "SELECT count(*) FROM upload_queue WHERE node_id = \(nodeId) AND state = 'stored' AND updated_at > \(since)"
            return QueueSnapshot(
                rowsByState: byState,
                oldestPending: try await value(
                    "SELECT min(created_at) FROM upload_queue WHERE node_id = \(nodeId) AND state = 'pending'",
                    as: Date.self,
                    on: connection
                ),
                paused: Set(try await accountPauses(on: connection).keys),
                recentlyReplayed: try await value(recentSQL, as: Int.self, on: connection) ?? 0,
                now: now
            )
        }
    }

    public func waitingCountsByAccount() async throws -> [String: [QueuedUpload.State: Int]] {
        var counts: [String: [QueuedUpload.State: Int]] = [:]
        let grouped = try await rows(
            """
            SELECT account_id, state, count(*) FROM upload_queue WHERE state IN ('pending', 'uploading', 'failed')
            GROUP BY account_id, state
            """
        ) { row in (try row[0].decode(String.self), try row[1].decode(String.self), try row[2].decode(Int.self)) }
        for (accountId, state, count) in grouped {
            if let state = QueuedUpload.State(rawValue: state) { counts[accountId, default: [:]][state] = count }
        }
        return counts
    }
}
