#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One growable byte buffer for a whole signing: the canonical request, the string to sign and the
/// output are regions of it. Unlike `[UInt8]`, appending a byte is a bounds check and a store, with no
/// uniqueness check and no reference counting; that is what keeps a presign near a microsecond.
struct ScratchBuffer: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        self.base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to minimum: Int) {
        let newCapacity = max(capacity * 2, minimum)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    /// Appends after a `reserve` that made room; no capacity check.
    @inline(__always)
    mutating func appendWithinCapacity(_ byte: UInt8) {
        assert(count < capacity)
        base[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { append($0) }
    }

    mutating func append(_ string: StaticString) {
        append(UnsafeBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    /// Appends a copy of one of this buffer's own regions.
    mutating func append(region: Range<Int>) {
        reserve(region.count)
        (base + count).update(from: base + region.lowerBound, count: region.count)
        count += region.count
    }

    /// Appends `bytes` percent-encoded as SigV4 wants (`/` kept when `keepSlash`).
    mutating func appendEncoded(_ bytes: UnsafeBufferPointer<UInt8>, keepSlash: Bool) {
        reserve(bytes.count * 3)
        appendEncodedWithinCapacity(bytes, keepSlash: keepSlash)
    }

    /// Appends one of this buffer's own regions, percent-encoded.
    mutating func appendEncoded(region: Range<Int>, keepSlash: Bool) {
        reserve(region.count * 3)
        appendEncodedWithinCapacity(UnsafeBufferPointer(start: base + region.lowerBound, count: region.count), keepSlash: keepSlash)
    }

    private mutating func appendEncodedWithinCapacity(_ bytes: UnsafeBufferPointer<UInt8>, keepSlash: Bool) {
        let out = base  // a local, so the loop does not reload the pointer after every store
        var position = count
        for byte in bytes {
            if URIEncoding.isUnreserved(byte) || (keepSlash && byte == UInt8(ascii: "/")) {
                out[position] = byte
                position &+= 1
            } else {
                out[position] = UInt8(ascii: "%")
                out[position &+ 1] = URIEncoding.upperHex(byte >> 4)
                out[position &+ 2] = URIEncoding.upperHex(byte & 0x0F)
                position &+= 3
            }
        }
        count = position
    }

    mutating func appendEncoded(_ string: String, keepSlash: Bool) {
        var string = string
        string.withUTF8 { appendEncoded($0, keepSlash: keepSlash) }
    }

    /// Appends `bytes` as lowercase hex.
    mutating func appendHex(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count * 2)
        let out = base
        var position = count
        for byte in bytes {
            out[position] = URIEncoding.lowerHex(byte >> 4)
            out[position &+ 1] = URIEncoding.lowerHex(byte & 0x0F)
            position &+= 2
        }
        count = position
    }

    /// Appends `string` lowercased (ASCII letters only, as header names are).
    mutating func appendLowercased(_ string: String) {
        var string = string
        string.withUTF8 { bytes in
            reserve(bytes.count)
            let out = base
            var position = count
            for byte in bytes {
                out[position] = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
                position &+= 1
            }
            count = position
        }
    }

    /// Removes the last byte.
    mutating func removeLast() {
        if count > 0 { count -= 1 }
    }

    /// Read access to a region; the pointer is valid only inside `body`.
    func withRegion<Result>(_ region: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
        try body(UnsafeBufferPointer(start: base + region.lowerBound, count: region.count))
    }

    /// Byte order of two regions, as SigV4 sorts names and values.
    func precedes(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        let common = min(lhs.count, rhs.count)
        let order = memcmp(base + lhs.lowerBound, base + rhs.lowerBound, common)
        return order != 0 ? order < 0 : lhs.count < rhs.count
    }

    func equal(_ lhs: Range<Int>, _ rhs: Range<Int>) -> Bool {
        lhs.count == rhs.count && memcmp(base + lhs.lowerBound, base + rhs.lowerBound, lhs.count) == 0
    }

    func string(_ region: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(start: base + region.lowerBound, count: region.count), as: UTF8.self)
    }
}
