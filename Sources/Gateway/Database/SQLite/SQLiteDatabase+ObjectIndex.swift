public import Foundation
public import GRDB

extension StoredObject: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "stored_object"
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

extension SQLiteDatabase {
    public func record(_ object: StoredObject) async throws {
        try await writer.write { db in try object.save(db) }
    }

    public func longestStoredPrefix(accountId: String, segments: [String]) async throws -> IndexedPath? {
        guard !segments.isEmpty else { return nil }
        var arguments: [(any DatabaseValueConvertible)?] = [accountId]
        arguments.reserveCapacity(segments.count + 1)
        var path = ""
        for segment in segments {
            path = path.isEmpty ? segment : path + "/" + segment
            arguments.append(path)
        }
        let placeholders = Array(repeating: "?", count: segments.count).joined(separator: ",")
        let sql = """
            SELECT request_path, object_key, content_type FROM stored_object WHERE account_id = ? AND request_path IN (\(placeholders))
            ORDER BY length(request_path) DESC LIMIT 1
            """
        let statementArguments = StatementArguments(arguments)
        // A synchronous read runs on this thread (one indexed lookup, microseconds); the async form hops
        // to a GRDB queue and back. The statement is prepared once per segment count and cached.
        return try readNow { db in
            guard let row = try Row.fetchOne(try db.cachedStatement(sql: sql), arguments: statementArguments) else { return nil }
            return IndexedPath(requestPath: row[0], key: row[1], contentType: row[2])
        }
    }

    public func lastStoreTimes(accountIds: [String]) async throws -> [String: Date] {
        try readNow { db in
            var times: [String: Date] = [:]
            let statement = try db.makeStatement(sql: "SELECT max(stored_at) FROM stored_object WHERE account_id = ?")
            for accountId in accountIds {
                if let time = try Date.fetchOne(statement, arguments: [accountId]) { times[accountId] = time }
            }
            return times
        }
    }

    public func objectCount(accountId: String) async throws -> Int {
        try await writer.read { db in try StoredObject.filter(Column("account_id") == accountId).fetchCount(db) }
    }
}
