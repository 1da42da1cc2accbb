public import S3

#if canImport(Glibc)
import Glibc
#endif

/// A spool file's bytes past a threshold, written around the page cache (`O_DIRECT`) from one aligned
/// staging buffer.
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

    /// Bytes per direct write, and the staging buffer's size and alignment: one transparent huge page where the
    /// kernel has them (`madvise`), which the kernel pins and hands to the disk as one piece rather than 512 pages
    /// (measured: the direct writes' CPU 60% lower than from a 1 MiB buffer of small pages, the spool's 25% lower).
    static let stagingSize = 2 * 1024 * 1024
    /// The alignment `O_DIRECT` asks of offsets, lengths and buffers (the page size covers every block size).
    static let alignment = 4096

    let descriptor: Int32
    let budget: MemoryBudget
    let staging: UnsafeMutableRawPointer
    /// The file offset where the staging buffer's first byte goes (aligned).
    private(set) var offset: Int
    /// Bytes in the staging buffer.
    private(set) var staged = 0
    /// `O_DIRECT` is off again: the filesystem took the flag but refused a direct write (`EINVAL`), so the rest
    /// goes through the page cache, or `finish` wrote the last bytes.
    private(set) var refused = false
    private var released = false

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
    }

    deinit { release() }

    /// Appends `pieces` to the file; each full staging buffer is written direct.
    func write(_ pieces: [UnsafeRawBufferPointer]) throws(WriteFailure) {
        for piece in pieces {
            guard let source = piece.baseAddress else { continue }
            var from = 0
            while from < piece.count {
                let take = min(Self.stagingSize - staged, piece.count - from)
                (staging + staged).copyMemory(from: source + from, byteCount: take)
                staged += take
                from += take
                if staged == Self.stagingSize {
                    try writeStaged()
                    offset += Self.stagingSize
                    staged = 0
                }
            }
        }
    }

    /// Writes what is staged through the page cache (a direct write cannot end mid-page), takes the file
    /// back to ordinary writes and gives the buffer back. The file then holds every byte written.
    func finish() throws(WriteFailure) {
        defer { release() }
        if !refused {
            guard Self.setDirect(descriptor, false) else { throw WriteFailure(errno: errno) }
            refused = true
        }
        try writeStaged()
    }

    /// Gives the staging buffer back (bytes still staged are not written).
    func release() {
        guard !released else { return }
        released = true
        staging.deallocate()
        budget.release(Self.stagingSize)
    }

    /// Writes the staged bytes at `offset`; a direct write the filesystem refuses is made through the page cache.
    private func writeStaged() throws(WriteFailure) {
        let bytes = [UnsafeRawBufferPointer(start: staging, count: staged)]
        do {
            try writeFully(descriptor, bytes, at: offset)
        } catch  where error.errno == EINVAL && !refused && Self.setDirect(descriptor, false) {
            refused = true
            try writeFully(descriptor, bytes, at: offset)
        }
    }

    /// Sets or clears `O_DIRECT` on `descriptor`; whether it could.
    static func setDirect(_ descriptor: Int32, _ on: Bool) -> Bool {
        guard let direct = O_DIRECT else { return !on }
        let flags = fcntl(descriptor, F_GETFL)
        return flags >= 0 && fcntl(descriptor, F_SETFL, on ? flags | direct : flags & ~direct) == 0
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
