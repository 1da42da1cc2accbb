public import Crypto
import Foundation
public import Logging
public import S3

#if canImport(Glibc)
import Glibc
#endif

/// The spool directory: where stores are written ahead (`SpoolWriter`) and how full it may get.
/// Which recordings wait in it is the gateway's ledger's business, not the directory's.
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

    public let settings: Settings
    /// Seals each spool file's own data key.
    public let masterKey: SymmetricKey
    public let usage: SpoolUsage
    /// Files of finished stores, kept to be written over (`SpoolFilePool`); not counted in `usage`.
    public let pool: SpoolFilePool
    /// Whether large files are written around the page cache, and where their staging buffers are charged.
    let directWrites: DirectWrites.Settings?
    let logger: Logger
    private let lockDescriptor: Int32

    /// Opens (creating it 0700) the spool directory; with `exclusive`, takes its lock or fails.
    public init(settings: Settings, masterKey: SymmetricKey, exclusive: Bool, directWrites: DirectWrites.Settings? = nil, logger: Logger) throws {
        self.settings = settings
        self.directWrites = directWrites
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
                throw SpoolError("the spool directory \(settings.directory) cannot be used: \(String(cString: strerror(errno)))")
            }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                close(descriptor)
                throw SpoolError("another gateway is running on the spool directory \(settings.directory); one serve per spool directory")
            }
            lockDescriptor = descriptor
        } else {
            lockDescriptor = -1
        }
        SpoolFilePool.removeLeftovers(in: settings.directory)
        pool = SpoolFilePool(
            directory: settings.directory,
            maximumFiles: Self.keptFiles,
            maximumBytes: settings.quotaBytes > 0 ? min(Self.keptBytes, settings.quotaBytes / 4) : Self.keptBytes
        )
        var used = 0
        for name in Self.spoolFiles(in: settings.directory) {
            used += Self.fileSize(settings.directory + "/" + name)
        }
        usage = SpoolUsage(used: used, quota: settings.quotaBytes)
    }

    deinit { if lockDescriptor >= 0 { close(lockDescriptor) } }

    /// At most this many finished stores' files are kept to be written over, holding at most `keptBytes`
    /// (a quarter of `spool_quota_bytes` when that is less).
    static let keptFiles = 64
    static let keptBytes = 256 * 1024 * 1024

    public func path(_ file: String) -> String { settings.directory + "/" + file }

    /// A new spool file for a store, or nil (with a log line saying why) when stores are not spooled now.
    public func begin(header: SpoolFile.Header) -> SpoolWriter? {
        guard settings.enabled else { return nil }
        var status = status()
        if status.problem != nil, pool.removeAll() > 0 {
            // The kept files hold disk space the spool needs now.
            status = self.status()
        }
        if let problem = status.problem {
            logger.warning("not spooling this store: \(problem); it is acknowledged only if S3 takes it")
            return nil
        }
        do {
            return try SpoolWriter(
                path: path(UUID().uuidString.lowercased() + ".spool"),
                masterKey: masterKey,
                header: header,
                usage: usage,
                pool: pool,
                direct: directWrites
            )
        } catch {
            logger.warning("not spooling this store: \(error); it is acknowledged only if S3 takes it")
            return nil
        }
    }

    /// Removes a spool file whose object S3 confirmed (or that an operator discarded).
    public func remove(_ file: String) {
        let size = Self.fileSize(path(file))
        if unlink(path(file)) == 0 { usage.release(size) }
    }

    /// At start-up: removes the spool files no queue row refers to (never acknowledged, or already stored).
    @discardableResult
    public func removeUnreferenced(keeping referenced: Set<String>) -> Int {
        var removed = 0
        for name in Self.spoolFiles(in: settings.directory) where !referenced.contains(name) {
            remove(name)
            removed += 1
        }
        return removed
    }

    public func status() -> Status {
        var stats = statvfs()
        let free = statvfs(settings.directory, &stats) == 0 ? Int(stats.f_bavail) * Int(stats.f_frsize) : 0
        return Status(
            enabled: settings.enabled,
            writable: access(settings.directory, W_OK) == 0,
            freeBytes: free,
            minimumFreeBytes: settings.minimumFreeBytes,
            usedBytes: usage.bytes,
            quotaBytes: settings.quotaBytes,
        )
    }

    public static func spoolFiles(in directory: String) -> [String] { files(in: directory, endingWith: ".spool") }

    /// The names in `directory` ending with `suffix` (spool files, kept files).
    static func files(in directory: String, endingWith suffix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(suffix) }
    }

    static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }
}

/// The spool directory cannot be used (another gateway holds it, or it cannot be opened).
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
