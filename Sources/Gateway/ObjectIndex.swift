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

    /// The indexed object whose request path is the longest segment-wise prefix of `segments`.
    func longestStoredPrefix(accountId: String, segments: [String]) async throws -> StoredObject? {
        guard !segments.isEmpty else { return nil }
        var candidates: [String] = []
        candidates.reserveCapacity(segments.count)
        var path = ""
        for segment in segments {
            path = path.isEmpty ? segment : path + "/" + segment
            candidates.append(path)
        }
        let paths = candidates
        return try await database.writer.read { db in
            try StoredObject
                .filter(Column("account_id") == accountId && paths.contains(Column("request_path")))
                .order(length(Column("request_path")).desc)
                .fetchOne(db)
        }
    }

    func count(accountId: String) async throws -> Int {
        try await database.writer.read { db in try StoredObject.filter(Column("account_id") == accountId).fetchCount(db) }
    }
}
