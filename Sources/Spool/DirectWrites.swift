import Dispatch
public import S3

#if canImport(Glibc)
import Glibc
#endif

/// A spool file's bytes past a threshold, written around the page cache (`O_DIRECT`) from an aligned
/// staging buffer, one half written behind while the other fills.
///
/// Why: a store's write-ahead file is almost always discarded within seconds (S3 took the recording), so
/// the page cache it fills is never read: the kernel allocates, fills and frees a page for every 4 KiB of
/// it. Up to the threshold that cost is small, and a finished store's file is written over by the next
/// (`SpoolFilePool`); a large file, which the pool cannot keep, costs more in the page cache than on the
/// disk. Measured on this project's machine for 1 GiB: writes into new page cache 0.3-0.75 CPU-s and the
/// unlink 0.08-0.12, against 0.1-0.2 for 1 MiB direct writes (less from a huge page: `stagingSize`) and nothing
/// for the unlink; with AES-GCM and the copies, the spool's own cost went from 0.65-0.80 CPU-s per GiB to
/// 0.23-0.29 (`Benchmarks/SpoolBenchmark`).
///
/// A direct write returns only when the disk has the bytes (about 1.5 ms per 2 MiB here, 1 s per GiB), so the
/// writes run behind, on a queue of the file's own: the store's task fills one half of the staging buffer while
/// the other half is written, and waits only if the disk has not finished the last half by then. A write that
/// fails is reported by the next `write` or by `finish`, so a file is never called whole that is not.
///
/// The staging buffer is charged to the gateway's memory budget, and only taken when it is free at once:
/// without it (or on a filesystem that refuses `O_DIRECT`) the file goes on through the page cache.
/// Used by its writer's task only.
public final class DirectWrites {
    /// Where a spool's large files go direct, and whose budget pays for the staging buffers.
    public struct Settings: Sendable {
        public var budget: MemoryBudget
        /// A file's bytes below this go through the page cache, the rest direct.
        public var threshold: Int

        public init(budget: MemoryBudget, threshold: Int = 32 * 1024 * 1024) {
            self.budget = budget
            self.threshold = threshold
        }
    }

    /// The staging buffer's size and alignment: one transparent huge page where the kernel has them (`madvise`),
    /// which the kernel pins and hands to the disk as few pieces rather than 512 pages (measured: the direct
    /// writes' CPU 60% lower than from a 1 MiB buffer of small pages, the spool's 25% lower).
    static let stagingSize = 2 * 1024 * 1024
    /// Bytes per direct write: half the staging buffer, the other half filling meanwhile.
    static let halfSize = stagingSize / 2
    /// The alignment `O_DIRECT` asks of offsets, lengths and buffers (the page size covers every block size).
    static let alignment = 4096

    let descriptor: Int32
    let budget: MemoryBudget
    let staging: UnsafeMutableRawPointer
    /// The half of `staging` being filled (0 or 1).
    private var filling = 0
    /// The file offset where the filling half's first byte goes (aligned).
    private(set) var offset: Int
    /// Bytes in the filling half.
    private(set) var staged = 0
    /// The write running behind, if any, and what the last one found.
    private let behind: WriteBehind
    private var released = false

    /// `O_DIRECT` is off again: the filesystem took the flag but refused a direct write (`EINVAL`), so the rest
    /// goes through the page cache.
    var refused: Bool { behind.refused }

    /// What `begin` did.
    enum Start {
        case direct(DirectWrites)
        /// The budget has no room for a staging buffer now (try again later).
        case noRoom
        /// The file cannot be written direct (the filesystem refuses `O_DIRECT`).
        case refused
    }

    /// Switches the open file `descriptor` (read-write), whose first `position` bytes are written, to
    /// direct writes: the staging buffer starts at the page `position` falls in, holding that page's
    /// written bytes read back. Nothing changes unless it says `.direct`.
    static func begin(descriptor: Int32, position: Int, budget: MemoryBudget) -> Start {
        guard budget.tryAcquire(stagingSize) else { return .noRoom }
        let staging = UnsafeMutableRawPointer.allocate(byteCount: stagingSize, alignment: stagingSize)
        _ = madvise(staging, stagingSize, MADV_HUGEPAGE)  // a hint: small pages work too
        let start = position / alignment * alignment
        let head = position - start
        guard head == 0 || pread(descriptor, staging, head, off_t(start)) == head, setDirect(descriptor, true) else {
            staging.deallocate()
            budget.release(stagingSize)
            return .refused
        }
        return .direct(DirectWrites(descriptor: descriptor, budget: budget, staging: staging, offset: start, staged: head))
    }

    private init(descriptor: Int32, budget: MemoryBudget, staging: UnsafeMutableRawPointer, offset: Int, staged: Int) {
        self.descriptor = descriptor
        self.budget = budget
        self.staging = staging
        self.offset = offset
        self.staged = staged
        self.behind = WriteBehind(descriptor: descriptor)
    }

    deinit { release() }

    private var fillingHalf: UnsafeMutableRawPointer { staging + filling * Self.halfSize }

    /// Appends `pieces` to the file; each full half of the staging buffer is written direct, behind.
    func write(_ pieces: [UnsafeRawBufferPointer]) throws(WriteFailure) {
        for piece in pieces {
            guard let source = piece.baseAddress else { continue }
            var from = 0
            while from < piece.count {
                let take = min(Self.halfSize - staged, piece.count - from)
                (fillingHalf + staged).copyMemory(from: source + from, byteCount: take)
                staged += take
                from += take
                if staged == Self.halfSize {
                    // The other half's write must be done before it is filled again; this one then runs behind.
                    try behind.wait()
                    behind.start(UnsafeRawBufferPointer(start: fillingHalf, count: Self.halfSize), at: offset)
                    filling = 1 - filling
                    offset += Self.halfSize
                    staged = 0
                }
            }
        }
    }

    /// Waits for the write behind, writes what is staged through the page cache (a direct write cannot end
    /// mid-page), takes the file back to ordinary writes and gives the buffer back. The file then holds every
    /// byte written.
    func finish() throws(WriteFailure) {
        defer { release() }
        try behind.wait()
        guard Self.setDirect(descriptor, false) else { throw WriteFailure(errno: errno) }
        try writeFully(descriptor, [UnsafeRawBufferPointer(start: fillingHalf, count: staged)], at: offset)
    }

    /// Waits for the write behind (its outcome no longer matters) and gives the staging buffer back (bytes still
    /// staged are not written).
    func release() {
        guard !released else { return }
        released = true
        try? behind.wait()
        staging.deallocate()
        budget.release(Self.stagingSize)
    }

    /// Sets or clears `O_DIRECT` on `descriptor`; whether it could.
    static func setDirect(_ descriptor: Int32, _ on: Bool) -> Bool {
        guard let direct = O_DIRECT else { return !on }
        let flags = fcntl(descriptor, F_GETFL)
        return flags >= 0 && fcntl(descriptor, F_SETFL, on ? flags | direct : flags & ~direct) == 0
    }
}

/// One file's direct write running behind its writer, on a queue of its own: at most one at a time, started by
/// `start` and waited for by `wait`, which throws what it found. A write the filesystem refuses (`EINVAL`, though
/// it took `O_DIRECT`) is made again through the page cache, and the file's later bytes follow it there.
final class WriteBehind: @unchecked Sendable {
    // @unchecked: `running`, `failure` and `refused` are read and written only between `start` and the group's
    // `wait` by the queue, and outside them by the writer's task; the group orders the two.
    let descriptor: Int32
    private let queue = DispatchQueue(label: "spool.direct-writes")
    private let group = DispatchGroup()
    private var running = false
    private var failure: WriteFailure?
    /// `O_DIRECT` is off: every write from now on goes through the page cache.
    private(set) var refused = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Writes `bytes` (which must stay as they are until `wait` returns) at `offset`, behind.
    func start(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        running = true
        let handed = UnsafeBytes(bytes: bytes)
        queue.async(group: group) { self.write(handed.bytes, at: offset) }
    }

    /// Waits until the write behind (if any) is done; throws the first failure of any write since `init`.
    func wait() throws(WriteFailure) {
        if running {
            group.wait()
            running = false
        }
        if let failure { throw failure }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        do { try writeOrFallBack(bytes, at: offset) } catch { failure = error }
    }

    /// Writes `bytes` at `offset`; a direct write the filesystem refuses is made through the page cache.
    private func writeOrFallBack(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(WriteFailure) {
        do {
            try writeFully(descriptor, [bytes], at: offset)
        } catch  where error.errno == EINVAL && !refused && DirectWrites.setDirect(descriptor, false) {
            refused = true
            try writeFully(descriptor, [bytes], at: offset)
        }
    }

    /// A buffer handed to the queue: its owner keeps it unchanged until `wait` returns.
    private struct UnsafeBytes: @unchecked Sendable {
        let bytes: UnsafeRawBufferPointer
    }
}

/// Linux's `O_DIRECT`, which Glibc's Swift module leaves out (it sits behind `_GNU_SOURCE`); its value differs by
/// architecture, so elsewhere files stay in the page cache.
#if arch(x86_64) || arch(i386)
let O_DIRECT: Int32? = 0o40000
#elseif arch(arm64)
let O_DIRECT: Int32? = 0o200000
#else
let O_DIRECT: Int32? = nil
#endif
