import KazooWire

/// A request path after the token (`ObjectKey`). Properties: every segment of a path that is accepted is
/// non-empty, not `.` or `..`, holds no `/` and no control character; the key made from them is at most
/// 1024 bytes or refused; a key that is accepted passes the key check again unchanged.
enum ObjectKeyFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        let path = Substring(String(decoding: input, as: UTF8.self))
        guard let segments = try? ObjectKey.segments(ofRawPath: path) else { return }
        for segment in segments {
            try fuzzCheck(!segment.isEmpty && segment != "." && segment != "..", "segment \(segment.debugDescription) was accepted")
            try fuzzCheck(!segment.utf8.contains(UInt8(ascii: "/")), "segment \(segment.debugDescription) holds a '/'")
            try fuzzCheck(
                !segment.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) },
                "segment \(segment.debugDescription) holds a control character"
            )
        }
        guard let key = try? ObjectKey.key(prefix: "recordings/", segments: segments) else { return }
        try fuzzCheck(key.utf8.count <= ObjectKey.maximumBytes, "a key of \(key.utf8.count) bytes was accepted")
        try fuzzCheck((try? ObjectKey.validated(key)) == key, "the key \(key.debugDescription) fails its own check")
    }
}
