import Foundation
import Testing

@testable import Gateway

struct ObjectLocatorTests {
    static let account = "0123456789abcdef0123456789abcdef"

    static func stored(_ path: String, key: String) -> StoredObject {
        StoredObject(
            accountId: account,
            requestPath: path,
            objectKey: key,
            size: 1,
            checksum: "sha256:00",
            etag: nil,
            contentType: "audio/wav",
            storedAt: Date()
        )
    }

    @Test func theLongestStoredPrefixWinsFromMemoryOrTheIndex() async throws {
        let index = try SQLiteDatabase.inMemory()
        let locator = ObjectLocator(index: index)
        let fetched = ["a", "o", "d", "n.mp3", "a", "o", "d", "n.mp3"]
        #expect(locator.remembered(accountId: Self.account, segments: fetched) == nil)

        try await index.record(Self.stored("a/o/d/n.mp3", key: "p/a/o/d/n.mp3"))
        try await index.record(Self.stored("a/o", key: "p/a/o"))
        let located = try await locator.locate(accountId: Self.account, keyPrefix: "p/", segments: fetched)
        #expect(located == ObjectLocator.Location(key: "p/a/o/d/n.mp3", contentType: "audio/wav"))
        // Now remembered: the event-loop path can answer it without the database.
        #expect(locator.remembered(accountId: Self.account, segments: fetched) == located)
        #expect(locator.remembered(accountId: "ffffffffffffffffffffffffffffffff", segments: fetched) == nil)
    }

    @Test func withoutAnIndexRowTheDoubledPathIsHalvedElseTakenWhole() async throws {
        let locator = ObjectLocator(index: try SQLiteDatabase.inMemory())
        #expect(try await locator.locate(accountId: Self.account, keyPrefix: "", segments: ["x", "y.mp3", "x", "y.mp3"]).key == "x/y.mp3")
        #expect(try await locator.locate(accountId: Self.account, keyPrefix: "r/", segments: ["x", "y.mp3", "z"]).key == "r/x/y.mp3/z")
    }

    @Test func memoryIsBoundedOldestFirst() throws {
        let locator = ObjectLocator(index: try SQLiteDatabase.inMemory(), capacity: 2)
        for name in ["1", "2", "3"] {
            locator.remember(accountId: Self.account, requestPath: name, location: .init(key: name, contentType: nil))
        }
        #expect(locator.remembered(accountId: Self.account, segments: ["1"]) == nil)
        #expect(locator.remembered(accountId: Self.account, segments: ["2"])?.key == "2")
        #expect(locator.remembered(accountId: Self.account, segments: ["3"])?.key == "3")
    }
}
