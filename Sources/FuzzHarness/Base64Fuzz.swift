import Foundation
import KazooWire
import NIOCore

/// KAZOO's base64 file part (`Base64StreamDecoder`). Properties: the input decoded in one piece and in pieces
/// gives the same bytes or the same refusal; the input taken as a recording, encoded as KAZOO's Erlang does
/// (and with line breaks), decodes in pieces to exactly the input.
enum Base64Fuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        var splits = Splits(seedingWith: input)
        let whole = decode([input[...]])
        let split = decode(splits.pieces(of: input[...]))
        try fuzzCheck(whole == split, "one piece gave \(whole.map(\.count) ?? -1) bytes, pieces gave \(split.map(\.count) ?? -1)")
        if let whole { try fuzzCheck(whole.count <= input.count, "decoded more bytes than the text holds") }

        for options in [Data.Base64EncodingOptions(), [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]] {
            let text = [UInt8](Data(input).base64EncodedData(options: options))
            let decoded = decode(splits.pieces(of: text[...]))
            try fuzzCheck(decoded == input, "a round trip of \(input.count) bytes gave \(decoded.map(\.count) ?? -1)")
        }
    }

    /// The bytes `pieces` decode to, or nil when they are refused.
    static func decode(_ pieces: [ArraySlice<UInt8>]) -> [UInt8]? {
        var decoder = Base64StreamDecoder()
        var output: [UInt8] = []
        do {
            for piece in pieces { output += try decoder.decode(ByteBuffer(bytes: piece)).readableBytesView }
            try decoder.finish()
        } catch {
            return nil
        }
        return output
    }
}
