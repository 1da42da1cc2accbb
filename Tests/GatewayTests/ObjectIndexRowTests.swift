import Foundation
import GRDB
import Testing

@testable import Gateway

/// The index row every store writes (`StoredObject.upsert`), against what GRDB's `Codable` persistence wrote
/// before it (and still reads): the same columns and values, stored_at in the same text form, so rows from
/// earlier versions and new ones sort together by time.
struct ObjectIndexRowTests {
    @Test func theUpsertWritesTheRowAsCodablePersistenceDid() throws {
        let database = try DatabaseQueue()
        try SQLiteMigrations.migrator.migrate(database)
        let time = Date(timeIntervalSince1970: 1_790_000_000.125)
        let before = StoredObject(
            accountId: "a",
            requestPath: "x/old.mp3",
            objectKey: "rec/x/old.mp3",
            size: 5,
            checksum: "sha256:00",
            etag: "\"e\"",
            contentType: "audio/mpeg",
            storedAt: time
        )
        var now = before
        now.requestPath = "x/new.mp3"
        now.etag = nil
        try database.write { db in
            try before.insert(db)
            try now.upsert(into: db)
        }
        let rows = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT request_path, etag, stored_at, typeof(stored_at) FROM stored_object ORDER BY request_path")
        }
        #expect(rows.count == 2)
        let (new, old) = (rows[0], rows[1])
        #expect(new["stored_at"] as String? == old["stored_at"] as String?, "\(rows)")
        #expect(new[3] as String? == "text")
        #expect(new["etag"] as String? == nil)
        #expect(try database.read { db in try StoredObject.fetchAll(db) }.sorted { $0.requestPath < $1.requestPath } == [now, before])

        // The same path again replaces its row.
        var replaced = now
        replaced.objectKey = "rec/x/other.mp3"
        replaced.size = 9
        try database.write { db in try replaced.upsert(into: db) }
        #expect(try database.read { db in try StoredObject.fetchAll(db) }.sorted { $0.requestPath < $1.requestPath } == [replaced, before])
    }
}
