import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The spool directory: where stores are written ahead (`SpoolWriter`), how full it may get, and which
/// objects are waiting in it (so fetches can be served from it during an S3 outage).
///
/// One `serve` owns a spool directory at a time (an exclusive lock on `.lock`), because its start-up
/// removes the files no queue row refers to — files another process may still be writing.
public final class Spool: Sendable {
    public struct Settings: Sendable, Hashable {
        public var enabled: Bool
        public var directory: String
        /// Below this much free space on the spool's filesystem, stores are not spooled.
        public var minimumFreeBytes: Int
        /// The most all spool files together may hold; 0 for no limit but free space.
        public var quotaBytes: Int

        public init(enabled: Bool = true, directory: String, minimumFreeBytes: Int = 0, quotaBytes: Int = 0) {
            self.enabled = enabled
            self.directory = directory
            self.minimumFreeBytes = minimumFreeBytes
            self.quotaBytes = quotaBytes
        }
    }

    /// What `/readyz` and the command line show.
    public struct Status: Sendable, Hashable {
        public var enabled: Bool
        public var writable: Bool
        public var freeBytes: Int
        public var minimumFreeBytes: Int
        public var usedBytes: Int
        public var quotaBytes: Int
        public var waitingObjects: Int

        /// Why a store would not be spooled now, if it would not.
        public var problem: String? {
            if !enabled { return nil }
            if !writable { return "the spool directory is not writable" }
            if freeBytes < minimumFreeBytes {
                return "the spool's filesystem has \(freeBytes) bytes free, below spool_min_free_bytes \(minimumFreeBytes)"
            }
            if quotaBytes > 0 && usedBytes >= quotaBytes {
                return "the spool holds \(usedBytes) bytes, its quota (spool_quota_bytes) is \(quotaBytes)"
            }
            return nil
        }
    }

    /// An object waiting in the spool.
    public struct Waiting: Sendable, Hashable {
        public var file: String
        public var size: Int
    }

    public let settings: Settings
    let masterKey: MasterKey
    public let usage: SpoolUsage
    let logger: Logger
    private let lockDescriptor: Int32
    /// `ObjectLocator.cacheKey(account, object key)` → the newest spool file holding it.
    private let waiting = Mutex<[String: Waiting]>([:])
    private let waitingCount = Atomic<Int>(0)

    /// Opens (creating it 0700) the spool directory; with `exclusive`, takes its lock or fails.
    init(settings: Settings, masterKey: MasterKey, exclusive: Bool, logger: Logger) throws {
        self.settings = settings
        self.masterKey = masterKey
        self.logger = logger
        try FileManager.default.createDirectory(
            atPath: settings.directory,
            withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700]
        )
        if exclusive {
            let descriptor = open(settings.directory + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw ConfigError("the spool directory \(settings.directory) cannot be used: \(String(cString: strerror(errno)))")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                close(descriptor)
                throw ConfigError("another gateway is running on the spool directory \(settings.directory); one serve per spool directory")
            }
            lockDescriptor = descriptor
        } else {
            lockDescriptor = -1
        }
        var used = 0
        for name in Self.spoolFiles(in: settings.directory) {
            used += Self.fileSize(settings.directory + "/" + name)
        }
        usage = SpoolUsage(used: used, quota: settings.quotaBytes)
    }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    public func path(_ file: String) -> String { settings.directory + "/" + file }

    /// A new spool file for a store, or nil (with a log line saying why) when stores are not spooled now.
    func begin(header: SpoolFile.Header) -> SpoolWriter? {
        guard settings.enabled else { return nil }
        let status = status(countFiles: false)
        if let problem = status.problem {
            logger.warning("not spooling this store: \(problem); it is acknowledged only if S3 takes it")
            return nil
        }
        do {
            return try SpoolWriter(path: path(UUID().uuidString.lowercased() + ".spool"), masterKey: masterKey, header: header, usage: usage)
        } catch {
            logger.warning("not spooling this store: \(error); it is acknowledged only if S3 takes it")
            return nil
        }
    }

    /// Removes a spool file whose object S3 confirmed (or that an operator discarded).
    func remove(_ file: String) {
        let size = Self.fileSize(path(file))
        if unlink(path(file)) == 0 { usage.release(size) }
    }

    /// At start-up: removes the spool files no queue row refers to (never acknowledged, or already stored).
    @discardableResult
    func removeUnreferenced(keeping referenced: Set<String>) -> Int {
        var removed = 0
        for name in Self.spoolFiles(in: settings.directory) where !referenced.contains(name) {
            remove(name)
            removed += 1
        }
        return removed
    }

    public func status(countFiles: Bool = true) -> Status {
        var stats = statvfs()
        let free = statvfs(settings.directory, &stats) == 0 ? Int(stats.f_bavail) * Int(stats.f_frsize) : 0
        return Status(
            enabled: settings.enabled,
            writable: access(settings.directory, W_OK) == 0,
            freeBytes: free,
            minimumFreeBytes: settings.minimumFreeBytes,
            usedBytes: usage.bytes,
            quotaBytes: settings.quotaBytes,
            waitingObjects: countFiles ? waitingCount.load(ordering: .relaxed) : 0
        )
    }

    // MARK: Objects waiting in the spool

    func markWaiting(accountId: String, key: String, _ waitingObject: Waiting) {
        waiting.withLock { waiting in
            if waiting.updateValue(waitingObject, forKey: ObjectLocator.cacheKey(accountId, key)) == nil {
                waitingCount.add(1, ordering: .relaxed)
            }
        }
    }

    /// Forgets `file` (uploaded, or gone); a newer spool file of the same key stays.
    func markGone(accountId: String, key: String, file: String) {
        waiting.withLock { waiting in
            let cacheKey = ObjectLocator.cacheKey(accountId, key)
            if waiting[cacheKey]?.file == file {
                waiting[cacheKey] = nil
                waitingCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    func waitingObject(accountId: String, key: String) -> Waiting? {
        guard waitingCount.load(ordering: .relaxed) > 0 else { return nil }
        return waiting.withLock { $0[ObjectLocator.cacheKey(accountId, key)] }
    }

    static func spoolFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".spool") }
    }

    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}
