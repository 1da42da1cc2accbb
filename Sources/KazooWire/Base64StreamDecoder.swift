public import NIOCore

/// Decodes base64 text that arrives in arbitrary pieces (KAZOO's `base64_encode_data` file parts),
/// skipping line breaks and spaces; at most three characters are carried between pieces.
public struct Base64StreamDecoder: Sendable {
    /// Sextets of the group in progress, how many there are, and how many of them were `=`.
    private var bits: UInt32 = 0
    private var count = 0
    private var padding = 0
    private var finished = false

    public init() {}

    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        // The URL-safe alphabet decodes too.
        table[Int(UInt8(ascii: "-"))] = 62
        table[Int(UInt8(ascii: "_"))] = 63
        return table
    }()

    /// Whether `byte` can appear in base64 text (alphabet, padding or whitespace).
    public static func isBase64Text(_ byte: UInt8) -> Bool {
        table[Int(byte)] != 0xFF || byte == UInt8(ascii: "=") || byte == 0x0D || byte == 0x0A || byte == 0x20 || byte == 0x09
    }

    public mutating func decode(_ input: ByteBuffer) throws(MultipartError) -> ByteBuffer {
        var output = ByteBuffer()
        let capacity = (input.readableBytes + 4) / 4 * 3 + 3
        var failure: MultipartError?
        var state = (bits: bits, count: count, padding: padding, finished: finished)
        _ = Self.table.withUnsafeBufferPointer { table in
            input.withUnsafeReadableBytes { source in
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { target in
                    var written = 0
                    for byte in source {
                        if byte == 0x0D || byte == 0x0A || byte == 0x20 || byte == 0x09 { continue }
                        if state.finished {
                            failure = MultipartError("the base64 file part continues after its padding")
                            return written
                        }
                        if byte == UInt8(ascii: "=") {
                            state.padding += 1
                            state.bits <<= 6
                        } else {
                            let value = table[Int(byte)]
                            guard value != 0xFF, state.padding == 0 else {
                                failure = MultipartError(
                                    value == 0xFF
                                        ? "the base64 file part holds a character that is not base64"
                                        : "the base64 file part has misplaced '=' padding"
                                )
                                return written
                            }
                            state.bits = state.bits << 6 | UInt32(value)
                        }
                        state.count += 1
                        guard state.count == 4 else { continue }
                        guard state.padding <= 2 else {
                            failure = MultipartError("the base64 file part has misplaced '=' padding")
                            return written
                        }
                        target[written] = UInt8(truncatingIfNeeded: state.bits >> 16)
                        written += 1
                        if state.padding < 2 {
                            target[written] = UInt8(truncatingIfNeeded: state.bits >> 8)
                            written += 1
                        }
                        if state.padding < 1 {
                            target[written] = UInt8(truncatingIfNeeded: state.bits)
                            written += 1
                        }
                        state.finished = state.padding > 0
                        state.bits = 0
                        state.count = 0
                        state.padding = 0
                    }
                    return written
                }
            }
        }
        if let failure { throw failure }
        (bits, count, padding, finished) = state
        return output
    }

    /// The text ended: leftover characters are an error (base64 comes in groups of four).
    public func finish() throws(MultipartError) {
        guard count == 0 else { throw MultipartError("the base64 file part ends in the middle of a group (truncated?)") }
    }
}
