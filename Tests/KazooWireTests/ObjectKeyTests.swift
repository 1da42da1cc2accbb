import Testing

@testable import KazooWire

struct ObjectKeyTests {
    @Test func segmentsArePercentDecodedOnce() throws {
        #expect(try ObjectKey.segments(ofRawPath: "a/b%20c/d%2525.mp3") == ["a", "b c", "d%25.mp3"])
        #expect(try ObjectKey.segments(ofRawPath: "Zo%C3%AB/%F0%9F%8E%A7+x.mp3") == ["Zoë", "🎧+x.mp3"])
        #expect(try ObjectKey.key(prefix: "rec/", segments: ["a", "b.mp3"]) == "rec/a/b.mp3")
    }

    @Test(arguments: [
        "", "a//b", "a/", "/a", "a/./b", "a/../b", "..", "a/%2e%2e/b", "a%2Fb", "a/%00b", "a/b%0A", "a/%7F", "a/%C3", "a/%zz", "a/%C2%85",
    ])
    func unsafePathsAreRefused(path: String) {
        #expect(throws: ObjectKeyError.self) { _ = try ObjectKey.segments(ofRawPath: Substring(path)) }
    }

    @Test func keysOver1024BytesAreRefused() throws {
        let segment = String(repeating: "é", count: 300)  // 600 bytes
        #expect(throws: ObjectKeyError.self) { _ = try ObjectKey.key(prefix: "", segments: [segment, segment]) }
        #expect(try ObjectKey.key(prefix: "", segments: [String(repeating: "a", count: 1024)]).utf8.count == 1024)
    }
}
