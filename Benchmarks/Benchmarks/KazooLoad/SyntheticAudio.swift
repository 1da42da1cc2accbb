import NIOCore

/// A recording's bytes, generated from a seed rather than read from disk: any range can be produced again,
/// so a fetched recording is compared byte for byte without keeping what was stored.
///
/// mp3: an ID3v2 header, then noise (what a codec's output looks like to a store: incompressible).
/// wav: a 44-byte RIFF header for 8 kHz 16-bit mono PCM, then noise.
struct SyntheticAudio: Sendable {
    enum Format: String, Sendable, Codable {
        case mp3, wav

        var contentType: String { self == .mp3 ? "audio/mpeg" : "audio/wav" }
    }

    let seed: UInt64
    let length: Int
    let format: Format

    /// Noise comes in blocks of this size, each from its own generator, so any block can be made alone.
    static let blockSize = 64 * 1024

    /// Bytes `range` of the recording.
    func bytes(_ range: Range<Int>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(range.count)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let block = offset / Self.blockSize
            let blockStart = block * Self.blockSize
            let end = min(range.upperBound, blockStart + Self.blockSize)
            var generator = SplitMix(seed: seed &+ UInt64(block) &* 0x9E37_79B9_7F4A_7C15)
            // Skip to `offset` inside the block in whole words (8 bytes each).
            let skipWords = (offset - blockStart) / 8
            for _ in 0..<skipWords { _ = generator.next() }
            var position = blockStart + skipWords * 8
            // A word's bytes least significant first, appended a word at a time (not byte by byte).
            while position < end {
                let word = generator.next().littleEndian
                withUnsafeBytes(of: word) { raw in out.append(contentsOf: raw[(max(offset, position) - position)..<min(end - position, 8)]) }
                position += 8
            }
            offset = end
        }
        overlayHeader(on: &out, at: range)
        return out
    }

    /// A piece as a buffer, for a request body.
    func buffer(_ range: Range<Int>) -> ByteBuffer { ByteBuffer(bytes: bytes(range)) }

    private var header: [UInt8] {
        switch format {
        case .mp3:
            // "ID3", version 4.0, no flags, a synchronised size of 0: a tag with no frames.
            return [0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
        case .wav:
            let data = UInt32(clamping: max(0, length - 44))
            var h: [UInt8] = Array("RIFF".utf8) + le32(data &+ 36) + Array("WAVEfmt ".utf8)
            h += le32(16) + [1, 0, 1, 0] + le32(8000) + le32(16000) + [2, 0, 16, 0]
            h += Array("data".utf8) + le32(data)
            return h
        }
    }

    private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }

    private func overlayHeader(on out: inout [UInt8], at range: Range<Int>) {
        let header = self.header
        guard range.lowerBound < header.count else { return }
        for index in range.lowerBound..<min(range.upperBound, header.count, length) {
            out[index - range.lowerBound] = header[index]
        }
    }
}

/// SplitMix64: small, fast, and good enough for noise that must only be reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
