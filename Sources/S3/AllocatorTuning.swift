#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator setting for a gateway whose memory is mostly part buffers.
///
/// The memory budget bounds the bytes the uploader holds, but glibc gives each thread that
/// allocates its own arena and keeps freed 8 MiB buffers mapped there, so resident memory ended up
/// 30-45 MiB above the budget in the upload benchmark. One arena brings resident memory back near
/// budget + runtime (and was no slower there). And glibc raises its mmap threshold to the size of each
/// mmap'd block it frees, so after the first part buffer is freed every later one comes from the heap,
/// where a freed buffer stays resident; a fixed threshold of 256 KiB keeps part buffers mmap'd, and
/// their memory goes back to the system the moment they are freed. Call once, first thing, before
/// threads start.
public enum AllocatorTuning {
    public static func limitArenas() {
        #if canImport(Glibc)
        // mallopt is in <malloc.h>, which the Glibc module does not import; M_ARENA_MAX is -8 there.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-8, 1)  // M_ARENA_MAX
        _ = mallopt(-3, 256 * 1024)  // M_MMAP_THRESHOLD (fixed: no dynamic raising)
        #endif
    }

    /// Returns the heap's free pages to the system (`malloc_trim(0)`), wherever they are in the heap: glibc
    /// trims only the top of the heap on its own. Cheap; safe from any thread.
    public static func returnFreeMemory() {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }
}
