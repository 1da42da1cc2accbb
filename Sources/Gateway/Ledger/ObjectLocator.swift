import KazooWire
import NIOConcurrencyHelpers

/// Finds the object a fetch means: the longest stored request path that prefixes the fetched one
/// (KAZOO fetches the stored URL plus the path again plus a metadata query, KAZOO.md).
///
/// Recently stored and recently fetched paths are kept in memory (bounded, oldest out first) in front
/// of the object index, so that the fetches that follow stores cost no database read; the event-loop
/// redirect path (`FastRedirectHandler`) uses only this memory and leaves misses to the full route.
///
/// An entry costs about 520 bytes with KAZOO's paths (measured: 50,000 entries, 26 MiB of RSS), outside
/// `memory_budget_bytes`; 4,096 entries (about 2 MiB) keep it small beside the budget. The 30-minute soak
/// found the earlier 50,000 as RSS growing for 18 minutes, until the cache was full.
final class ObjectLocator: Sendable {
    struct Location: Sendable, Hashable {
        var key: String
        var contentType: String?
        /// Another node's spool holds it and S3 does not yet (never remembered: the next fetch asks again).
        var pendingNode: String? = nil
    }

    struct Recent: Sendable {
        var entries: [String: Location] = [:]
        var order: [String] = []
        var head = 0
    }

    let index: any ObjectIndexStorage
    let capacity: Int
    private let recent = NIOLockedValueBox(Recent())

    init(index: any ObjectIndexStorage, capacity: Int = 4_096) {
        self.index = index
        self.capacity = capacity
    }

    static func cacheKey(_ accountId: String, _ path: some StringProtocol) -> String { accountId + " " + path }

    /// Remembers a stored (or resolved) path.
    func remember(accountId: String, requestPath: String, location: Location) {
        let key = Self.cacheKey(accountId, requestPath)
        recent.withLockedValue { recent in
            if recent.entries.updateValue(location, forKey: key) != nil { return }
            if recent.order.count < capacity {
                recent.order.append(key)
            } else {
                recent.entries[recent.order[recent.head]] = nil
                recent.order[recent.head] = key
                recent.head = (recent.head + 1) % capacity
            }
        }
    }

    /// The longest remembered prefix of `segments`, without touching the database.
    func remembered(accountId: String, segments: [String]) -> Location? {
        var prefixes: [String] = []
        prefixes.reserveCapacity(segments.count)
        var path = ""
        for segment in segments {
            path = path.isEmpty ? segment : path + "/" + segment
            prefixes.append(Self.cacheKey(accountId, path))
        }
        return recent.withLockedValue { recent in
            for prefix in prefixes.reversed() {
                if let location = recent.entries[prefix] { return location }
            }
            return nil
        }
    }

    /// The object for `segments`: remembered, else indexed, else the first half of a doubled path,
    /// else the whole path (objects stored before the index existed, or by another gateway).
    /// A path that cannot name an object is an `ObjectKeyError`.
    func locate(accountId: String, keyPrefix: String, segments: [String]) async throws -> Location {
        if let location = remembered(accountId: accountId, segments: segments) { return location }
        if let stored = try await index.longestStoredPrefix(accountId: accountId, segments: segments) {
            let location = Location(key: stored.key, contentType: stored.contentType, pendingNode: stored.pendingNode)
            if stored.pendingNode == nil { remember(accountId: accountId, requestPath: stored.requestPath, location: location) }
            return location
        }
        var path = segments
        let half = path.count / 2
        if path.count % 2 == 0, half > 0, path[..<half].elementsEqual(path[half...]) {
            path = Array(path[..<half])
        }
        return Location(key: try ObjectKey.key(prefix: keyPrefix, segments: path), contentType: nil)
    }
}
