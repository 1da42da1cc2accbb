#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator setting for a gateway whose memory is mostly part buffers.
///
/// The memory budget bounds the bytes the uploader holds, but glibc gives each thread that
/// allocates its own arena and keeps freed 8 MiB buffers mapped there, so resident memory ended up
/// 30-45 MiB above the budget in the upload benchmark. One arena brings resident memory back near
/// budget + runtime (and was no slower there). Call once, first thing, before threads start.
public enum AllocatorTuning {
    public static func limitArenas() {
        #if canImport(Glibc)
        // mallopt is in <malloc.h>, which the Glibc module does not import; M_ARENA_MAX is -8 there.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-8, 1)
        #endif
    }
}
