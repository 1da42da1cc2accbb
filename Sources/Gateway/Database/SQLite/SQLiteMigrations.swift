import GRDB

/// The SQLite schema, one versioned step at a time; GRDB applies each once, in order.
enum SQLiteMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: accounts and object index") { db in
            try db.create(table: "master_key_check") { table in
                table.primaryKey("id", .integer).check { $0 == 1 }
                table.column("sealed", .blob).notNull()
            }
            try db.create(table: "account") { table in
                table.primaryKey("account_id", .text)
                table.column("name", .text).notNull()
                table.column("bucket", .text).notNull()
                table.column("host", .text).notNull()
                table.column("region", .text)
                table.column("scheme", .text).notNull()
                table.column("path_style", .boolean).notNull()
                table.column("access_key_id", .text).notNull()
                table.column("sealed_secret", .blob).notNull()
                table.column("key_prefix", .text).notNull()
                table.column("sse", .text)
                table.column("kms_key_id", .text)
                table.column("storage_class", .text)
                table.column("download_mode", .text).notNull()
                table.column("presign_expiry_seconds", .integer)
                table.column("enabled", .boolean).notNull()
                table.column("token_hash", .text).notNull().unique()
                table.column("created_at", .datetime).notNull()
                table.column("updated_at", .datetime).notNull()
            }
            // A counter every change to `account` bumps, so a running server notices changes made by
            // the command line (another process) with one cheap query.
            try db.create(table: "registry_revision") { table in
                table.primaryKey("id", .integer).check { $0 == 1 }
                table.column("revision", .integer).notNull()
            }
            try db.execute(sql: "INSERT INTO registry_revision (id, revision) VALUES (1, 0)")
            for event in ["INSERT", "UPDATE", "DELETE"] {
                try db.execute(
                    sql: """
                        CREATE TRIGGER account_\(event.lowercased())_bumps_revision AFTER \(event) ON account
                        BEGIN UPDATE registry_revision SET revision = revision + 1 WHERE id = 1; END
                        """
                )
            }
            try db.create(table: "stored_object") { table in
                table.column("account_id", .text).notNull()
                table.column("request_path", .text).notNull()
                table.column("object_key", .text).notNull()
                table.column("size", .integer).notNull()
                table.column("checksum", .text).notNull()
                table.column("etag", .text)
                table.column("content_type", .text)
                table.column("stored_at", .datetime).notNull()
                table.primaryKey(["account_id", "request_path"])
            }
        }
        migrator.registerMigration("v2: upload queue") { db in
            try db.create(table: "upload_queue") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("account_id", .text).notNull()
                table.column("object_key", .text).notNull()
                table.column("request_path", .text).notNull()
                table.column("spool_file", .text).notNull().unique()
                table.column("size", .integer).notNull()
                table.column("checksum", .text).notNull()
                table.column("state", .text).notNull()
                table.column("attempts", .integer).notNull()
                table.column("next_attempt_at", .datetime).notNull()
                table.column("last_error", .text)
                table.column("created_at", .datetime).notNull()
                table.column("updated_at", .datetime).notNull()
            }
            try db.create(index: "upload_queue_due", on: "upload_queue", columns: ["state", "next_attempt_at"])
        }
        migrator.registerMigration("v3: paused accounts") { db in
            // The replay circuit breaker: an account whose credentials or bucket S3 refuses is paused here
            // (it survives restarts); changing the account in any way, or `queue retry`, resumes it.
            try db.create(table: "account_pause") { table in
                table.primaryKey("account_id", .text)
                table.column("reason", .text).notNull()
                table.column("paused_at", .datetime).notNull()
            }
            for event in ["INSERT", "UPDATE"] {
                try db.execute(
                    sql: """
                        CREATE TRIGGER account_\(event.lowercased())_resumes_replay AFTER \(event) ON account
                        BEGIN DELETE FROM account_pause WHERE account_id = NEW.account_id; END
                        """
                )
            }
        }
        migrator.registerMigration("v4: latest store per account") { db in
            // The admin page's "last store" per account: one index seek each, not a scan of every object.
            try db.create(index: "stored_object_latest", on: "stored_object", columns: ["account_id", "stored_at"])
        }
        migrator.registerMigration("v5: replay scheduling") { db in
            // A paused account is probed with one of its rows after a backoff that grows per failed probe.
            try db.alter(table: "account_pause") { table in
                table.add(column: "probes", .integer).notNull().defaults(to: 0)
                table.add(column: "next_probe_at", .datetime)
            }
            // The scheduler takes each account's oldest due rows; the drain rate counts rows stored lately.
            try db.create(index: "upload_queue_account_due", on: "upload_queue", columns: ["account_id", "state", "next_attempt_at"])
            try db.create(index: "upload_queue_recent", on: "upload_queue", columns: ["state", "updated_at"])
            // Changing an account (fixing its secret, say) resumes it and makes its rows due at once.
            for event in ["INSERT", "UPDATE"] {
                let now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
                try db.execute(sql: "DROP TRIGGER account_\(event.lowercased())_resumes_replay")
                try db.execute(
                    sql: """
                        CREATE TRIGGER account_\(event.lowercased())_resumes_replay AFTER \(event) ON account
                        BEGIN
                            DELETE FROM account_pause WHERE account_id = NEW.account_id;
                            UPDATE upload_queue SET next_attempt_at = \(now)
                                WHERE account_id = NEW.account_id AND state = 'pending' AND next_attempt_at > \(now);
                        END
                        """
                )
            }
        }
        migrator.registerMigration("v6: the node holding a spool file") { db in
            // Always null here (one node); PostgreSQL's queue names the node, and both share QueuedUpload.
            try db.alter(table: "upload_queue") { table in table.add(column: "node_id", .text) }
        }
        return migrator
    }
}
