public import NIOCore

/// Decodes base64 text that arrives in arbitrary pieces (KAZOO's `base64_encode_data` file parts),
/// skipping line breaks and spaces; at most three characters are carried between pieces.
public struct Base64StreamDecoder: Sendable {
    private var carry: [UInt8] = []
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
        output.reserveCapacity((input.readableBytes + carry.count) / 4 * 3 + 3)
        var quad = carry
        quad.reserveCapacity(4)
        for byte in input.readableBytesView {
            if byte == 0x0D || byte == 0x0A || byte == 0x20 || byte == 0x09 { continue }
            if byte == UInt8(ascii: "=") {
                quad.append(byte)
            } else {
                guard !finished, Self.table[Int(byte)] != 0xFF else {
                    throw MultipartError("the base64 file part holds a character that is not base64")
                }
                quad.append(byte)
            }
            if quad.count == 4 {
                try emit(quad, into: &output)
                quad.removeAll(keepingCapacity: true)
            }
        }
        carry = quad
        return output
    }

    /// The text ended: leftover characters are an error (base64 comes in groups of four).
    public func finish() throws(MultipartError) {
        guard carry.isEmpty else { throw MultipartError("the base64 file part ends in the middle of a group (truncated?)") }
    }

    private mutating func emit(_ quad: [UInt8], into output: inout ByteBuffer) throws(MultipartError) {
        guard !finished else { throw MultipartError("the base64 file part continues after its padding") }
        let padding = quad.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding <= 2, !quad.dropLast(padding).contains(UInt8(ascii: "=")) else {
            throw MultipartError("the base64 file part has misplaced '=' padding")
        }
        let values = quad.map { $0 == UInt8(ascii: "=") ? 0 : UInt32(Self.table[Int($0)]) }
        let word = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
        output.writeInteger(UInt8(truncatingIfNeeded: word >> 16))
        if padding < 2 { output.writeInteger(UInt8(truncatingIfNeeded: word >> 8)) }
        if padding < 1 { output.writeInteger(UInt8(truncatingIfNeeded: word)) }
        if padding > 0 { finished = true }
    }
}
