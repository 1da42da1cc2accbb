public import Foundation
import PostgresNIO

extension PostgresDatabase {
    public func record(_ object: StoredObject) async throws {
        try await execute(Self.upsert(object))
    }

    /// Records (or replaces) `object`'s index row; `pendingNode`: the node whose spool holds it until S3 has it.
    static func upsert(_ object: StoredObject, pendingNode: String? = nil) -> PostgresQuery {
        """
        INSERT INTO stored_object (account_id, request_path, object_key, size, checksum, etag, content_type, stored_at, pending_node)
        VALUES (\(object.accountId), \(object.requestPath), \(object.objectKey), \(object.size), \(object.checksum), \(object.etag),
            \(object.contentType), \(object.storedAt), \(pendingNode))
        ON CONFLICT (account_id, request_path) DO UPDATE SET object_key = excluded.object_key, size = excluded.size,
            checksum = excluded.checksum, etag = excluded.etag, content_type = excluded.content_type, stored_at = excluded.stored_at,
            pending_node = excluded.pending_node
        """
    }

    public func longestStoredPrefix(accountId: String, segments: [String]) async throws -> IndexedPath? {
        guard !segments.isEmpty else { return nil }
        var paths: [String] = []
        for segment in segments { paths.append(paths.last.map { $0 + "/" + segment } ?? segment) }
        return try await rows(
            """
            SELECT request_path, object_key, content_type, pending_node FROM stored_object WHERE account_id = \(accountId)
            AND request_path = ANY(\(paths)) ORDER BY length(request_path) DESC LIMIT 1
            """
        ) { row in
            IndexedPath(
                requestPath: try row[0].decode(String.self),
                key: try row[1].decode(String.self),
                contentType: try row[2].decode(String?.self),
                pendingNode: try row[3].decode(String?.self)
            )
        }.first
    }

    public func lastStoreTimes(accountIds: [String]) async throws -> [String: Date] {
        guard !accountIds.isEmpty else { return [:] }
        let found = try await rows(
            """
            SELECT a.id, (SELECT max(stored_at) FROM stored_object WHERE account_id = a.id) FROM unnest(\(accountIds)) AS a(id)
            """
        ) { row in (try row[0].decode(String.self), try row[1].decode(Date?.self)) }
        var times: [String: Date] = [:]
        for (accountId, time) in found { times[accountId] = time }
        return times
    }

    public func objectCount(accountId: String) async throws -> Int {
        try await value("SELECT count(*) FROM stored_object WHERE account_id = \(accountId)", as: Int.self) ?? 0
    }
}
