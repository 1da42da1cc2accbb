#if canImport(Glibc)
import Glibc
#endif

/// A write to a spool file failed (`errno`: ENOSPC, EDQUOT, EIO, ...).
struct WriteFailure: Error {
    let errno: Int32
}

/// Writes every byte of `pieces`, in order, at `offset` of the open file `descriptor` (one `pwritev` each time,
/// again for whatever a short write left).
func writeFully(_ descriptor: Int32, _ pieces: [UnsafeRawBufferPointer], at offset: Int) throws(WriteFailure) {
    var vectors = pieces.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
    var remaining = pieces.reduce(0) { $0 + $1.count }
    var first = 0
    var offset = offset
    while remaining > 0 {
        let written = vectors[first...].withUnsafeBufferPointer { pwritev(descriptor, $0.baseAddress, Int32($0.count), off_t(offset)) }
        if written < 0 {
            if errno == EINTR { continue }
            throw WriteFailure(errno: errno)
        }
        remaining -= written
        offset += written
        // Skip what was written: whole vectors, then part of the next one.
        var done = written
        while first < vectors.count && done >= vectors[first].iov_len {
            done -= vectors[first].iov_len
            first += 1
        }
        if done > 0, first < vectors.count {
            vectors[first].iov_base = vectors[first].iov_base.map { $0 + done }
            vectors[first].iov_len -= done
        }
    }
}
