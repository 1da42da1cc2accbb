import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Spool files whose stores are over (S3 took the recording, or the store was refused), kept for the
/// next stores to write over instead of creating a file and unlinking it for every store.
///
/// Why: a write into a new file's page cache allocates every page (and ext4 its buffer heads and
/// delayed-allocation reservations), and unlinking the file frees them again; writing over pages
/// that are already there is only the copy (measured on this project's machine: 0.35 CPU-s per GiB
/// for write + unlink against 0.17 for the same bytes written over a kept file). The price is disk
/// space (at most `maximumBytes`) and that a kept file's dirty pages are written back to disk now and
/// then, where a file unlinked within seconds never reached it: at most the pool's size every
/// writeback interval (30 s by default), whatever the store rate.
///
/// A kept file is named `<uuid>.free`, never `.spool`, so nothing reads it as a recording; what it
/// holds is ciphertext under a data key sealed in its own prelude, which the next store overwrites
/// first. Start-up removes every kept file. Thread-safe.
public final class SpoolFilePool: Sendable {
    /// A kept file: its name in the spool directory and its size on disk.
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var size: Int
    }

    static let suffix = ".free"

    let directory: String
    /// The most files kept at once.
    public let maximumFiles: Int
    /// The most bytes kept files may hold together; a larger file is unlinked.
    public let maximumBytes: Int

    struct State {
        /// Most recently returned last: its pages are the likeliest to still be in memory.
        var entries: [Entry] = []
        var bytes = 0
    }
    private let state = NIOLockedValueBox(State())

    public init(directory: String, maximumFiles: Int, maximumBytes: Int) {
        self.directory = directory
        self.maximumFiles = maximumFiles
        self.maximumBytes = maximumBytes
    }

    /// Bytes the kept files hold.
    public var bytes: Int { state.withLockedValue { $0.bytes } }
    /// How many files are kept.
    public var count: Int { state.withLockedValue { $0.entries.count } }

    /// A kept file for a new store (the caller renames it), or nil.
    func take() -> Entry? {
        state.withLockedValue { state in
            guard let entry = state.entries.popLast() else { return nil }
            state.bytes -= entry.size
            return entry
        }
    }

    /// Keeps the file at `path` (of `size` bytes) for a later store, or unlinks it when the pool is full.
    func keep(path: String, size: Int) {
        let name = UUID().uuidString.lowercased() + Self.suffix
        let admitted = state.withLockedValue { state in
            guard state.entries.count < maximumFiles, state.bytes + size <= maximumBytes else { return false }
            state.bytes += size
            return true
        }
        guard admitted, rename(path, directory + "/" + name) == 0 else {
            if admitted { state.withLockedValue { $0.bytes -= size } }
            unlink(path)
            return
        }
        state.withLockedValue { $0.entries.append(Entry(name: name, size: size)) }
    }

    /// Unlinks every kept file (the spool needs the disk space, or the gateway starts); returns how many.
    @discardableResult
    public func removeAll() -> Int {
        let entries = state.withLockedValue { state in
            defer {
                state.entries.removeAll()
                state.bytes = 0
            }
            return state.entries
        }
        for entry in entries { unlink(directory + "/" + entry.name) }
        return entries.count
    }

    /// At start-up: removes the kept files a previous process left (they are not recordings).
    static func removeLeftovers(in directory: String) {
        for name in Spool.files(in: directory, endingWith: suffix) { unlink(directory + "/" + name) }
    }
}
