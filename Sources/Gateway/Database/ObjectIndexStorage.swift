public import Foundation

/// Where the object index lives: every stored object, so fetches resolve their (longer) paths.
public protocol ObjectIndexStorage: Sendable {
    /// Records (or replaces: the same path is the same object) a stored object.
    func record(_ object: StoredObject) async throws
    /// The indexed object whose request path is the longest segment-wise prefix of `segments`.
    func longestStoredPrefix(accountId: String, segments: [String]) async throws -> IndexedPath?
    /// When each of these accounts last stored an object (accounts that never did are absent).
    func lastStoreTimes(accountIds: [String]) async throws -> [String: Date]
    func objectCount(accountId: String) async throws -> Int
}
