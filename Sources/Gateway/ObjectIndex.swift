import Foundation
import GRDB

/// Every object the gateway stored: which request path of which account became which key, with its
/// size, checksum, ETag and content type. Fetches resolve their (longer) paths against it.
struct StoredObject: Codable, FetchableRecord, PersistableRecord, Sendable, Hashable {
    static let databaseTableName = "stored_object"
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    var accountId: String
    /// The decoded path after the token, segments joined by `/`.
    var requestPath: String
    var objectKey: String
    var size: Int
    var checksum: String
    var etag: String?
    var contentType: String?
    var storedAt: Date
}

struct ObjectIndex: Sendable {
    let database: AppDatabase

    /// Records (or replaces: the same path is the same object) a stored object.
    func record(_ object: StoredObject) async throws {
        try await database.writer.write { db in try object.save(db) }
    }

    /// The key and content type of the indexed object whose request path is the longest segment-wise
    /// prefix of `segments`.
    func longestStoredPrefix(accountId: String, segments: [String]) throws -> (requestPath: String, key: String, contentType: String?)? {
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
        return try database.writer.read { db in
            guard let row = try Row.fetchOne(try db.cachedStatement(sql: sql), arguments: statementArguments) else { return nil }
            return (row[0], row[1], row[2])
        }
    }

    /// When each of these accounts last stored an object (accounts that never did are absent).
    func lastStoreTimes(accountIds: [String]) throws -> [String: Date] {
        try database.writer.read { db in
            var times: [String: Date] = [:]
            let statement = try db.makeStatement(sql: "SELECT max(stored_at) FROM stored_object WHERE account_id = ?")
            for accountId in accountIds {
                if let time = try Date.fetchOne(statement, arguments: [accountId]) { times[accountId] = time }
            }
            return times
        }
    }

    func count(accountId: String) async throws -> Int {
        try await database.writer.read { db in try StoredObject.filter(Column("account_id") == accountId).fetchCount(db) }
    }
}
