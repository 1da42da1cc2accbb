import Logging
import PostgresNIO

/// The PostgreSQL schema, one versioned step at a time, applied once by whichever node starts first: under
/// an advisory lock, in one transaction per step, recorded in `rg_schema`. A node whose binary knows fewer
/// steps than the database has refuses to start (an older binary must not write a newer schema).
enum PostgresMigrations {
    /// The advisory lock every node takes while it migrates (any constant the gateway alone uses).
    static let lock: Int64 = 0x7267_6174_6577_6179

    /// Each step's statements, in order; step N (from 1) brings the schema to version N.
    static let steps: [[String]] = [
        [
            "CREATE TABLE master_key_check (id INT PRIMARY KEY CHECK (id = 1), sealed BYTEA NOT NULL)",
            """
            CREATE TABLE account (
                account_id TEXT PRIMARY KEY, name TEXT NOT NULL, bucket TEXT NOT NULL, host TEXT NOT NULL, region TEXT,
                scheme TEXT NOT NULL, path_style BOOLEAN NOT NULL, access_key_id TEXT NOT NULL, sealed_secret BYTEA NOT NULL,
                key_prefix TEXT NOT NULL, sse TEXT, kms_key_id TEXT, storage_class TEXT, download_mode TEXT NOT NULL,
                presign_expiry_seconds BIGINT, enabled BOOLEAN NOT NULL, token_hash TEXT NOT NULL UNIQUE,
                created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)
            """,
            "CREATE TABLE registry_revision (id INT PRIMARY KEY CHECK (id = 1), revision BIGINT NOT NULL)",
            "INSERT INTO registry_revision (id, revision) VALUES (1, 0)",
            """
            CREATE TABLE stored_object (
                account_id TEXT NOT NULL, request_path TEXT NOT NULL, object_key TEXT NOT NULL, size BIGINT NOT NULL,
                checksum TEXT NOT NULL, etag TEXT, content_type TEXT, stored_at TIMESTAMPTZ NOT NULL,
                pending_node TEXT, PRIMARY KEY (account_id, request_path))
            """,
            "CREATE INDEX stored_object_latest ON stored_object (account_id, stored_at)",
            """
            CREATE TABLE upload_queue (
                id BIGSERIAL PRIMARY KEY, node_id TEXT NOT NULL, account_id TEXT NOT NULL, object_key TEXT NOT NULL,
                request_path TEXT NOT NULL, spool_file TEXT NOT NULL, size BIGINT NOT NULL, checksum TEXT NOT NULL,
                state TEXT NOT NULL, attempts BIGINT NOT NULL, next_attempt_at TIMESTAMPTZ NOT NULL, last_error TEXT,
                created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, UNIQUE (node_id, spool_file))
            """,
            "CREATE INDEX upload_queue_due ON upload_queue (node_id, state, next_attempt_at)",
            "CREATE INDEX upload_queue_account_due ON upload_queue (node_id, account_id, state, next_attempt_at)",
            "CREATE INDEX upload_queue_recent ON upload_queue (state, updated_at)",
            """
            CREATE TABLE account_pause (
                account_id TEXT PRIMARY KEY, reason TEXT NOT NULL, paused_at TIMESTAMPTZ NOT NULL,
                probes BIGINT NOT NULL DEFAULT 0, next_probe_at TIMESTAMPTZ)
            """,
            // Every change to an account moves the revision and tells every node (LISTEN rg_accounts); an added or
            // changed account is resumed and its rows are due now (an operator fixed it).
            """
            CREATE FUNCTION rg_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE registry_revision SET revision = revision + 1 WHERE id = 1;
                PERFORM pg_notify('rg_accounts', '');
                IF TG_OP <> 'DELETE' THEN
                    DELETE FROM account_pause WHERE account_id = NEW.account_id;
                    UPDATE upload_queue SET next_attempt_at = now()
                        WHERE account_id = NEW.account_id AND state = 'pending' AND next_attempt_at > now();
                END IF;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER account_changed AFTER INSERT OR UPDATE OR DELETE ON account
                FOR EACH ROW EXECUTE FUNCTION rg_account_changed()
            """,
        ]
    ]

    /// The version this binary brings a database to.
    static var currentVersion: Int { steps.count }

    static func apply(client: PostgresClient, logger: Logger) async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(lock))", logger: logger)
            do {
                try await migrate(connection, logger: logger)
                try await connection.query("SELECT pg_advisory_unlock(\(lock))", logger: logger)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lock))", logger: logger)
                throw error
            }
        }
    }

    private static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS rg_schema (id INT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
            logger: logger
        )
        var version = 0
        for try await found in try await connection.query("SELECT version FROM rg_schema WHERE id = 1", logger: logger).decode(Int.self) {
            version = found
        }
        guard version <= currentVersion else { throw SchemaTooNew(database: version, binary: currentVersion) }
        for step in version..<currentVersion {
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in steps[step] { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                let reached = step + 1
                try await connection.query(
                    "INSERT INTO rg_schema (id, version) VALUES (1, \(reached)) ON CONFLICT (id) DO UPDATE SET version = \(reached)",
                    logger: logger
                )
                try await connection.query("COMMIT", logger: logger)
                logger.notice("database schema migrated", metadata: ["version": "\(reached)"])
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}

/// The database was migrated by a newer binary: this one refuses to start and changes nothing.
public struct SchemaTooNew: OperatorFacingError, Sendable {
    public var database: Int
    public var binary: Int
    public var description: String {
        "the database's schema is version \(database), newer than this binary knows (\(binary)): run the same version of recording-gateway on every node (upgrade this one); nothing was changed"
    }
}
