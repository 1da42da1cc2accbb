/// Pieces of an input as a network might deliver them, the same for the same input: sizes drawn from a
/// generator seeded by the input's hash, mostly small (1-64 bytes), sometimes up to 4 KiB.
struct Splits {
    private var state: UInt64

    init(seedingWith bytes: [UInt8]) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        state = hash | 1
    }

    private mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// `bytes` cut into pieces.
    mutating func pieces<T>(of bytes: ArraySlice<T>) -> [ArraySlice<T>] {
        var pieces: [ArraySlice<T>] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let roll = next()
            let size = roll % 8 == 0 ? Int((roll >> 8) % 4096) + 1 : Int((roll >> 8) % 64) + 1
            let end = min(bytes.endIndex, start + size)
            pieces.append(bytes[start..<end])
            start = end
        }
        return pieces
    }

    /// `bytes` in pieces of `size`.
    static func even<T>(_ bytes: ArraySlice<T>, size: Int) -> [ArraySlice<T>] {
        stride(from: bytes.startIndex, to: bytes.endIndex, by: size).map { bytes[$0..<min(bytes.endIndex, $0 + size)] }
    }
}
