import Crypto
import S3
import Testing

struct ObjectChecksumTests {
    static func hex(_ digest: SHA256Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    func checksum(of bytes: [UInt8], partSize: Int, feedingBy step: Int) -> String {
        var checksum = ObjectChecksum(partSize: partSize)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + step, bytes.count)
            bytes[offset..<end].withUnsafeBytes { checksum.update($0) }
            offset = end
        }
        return checksum.finalize()
    }

    @Test func lessThanOnePartIsThePlainSHA256() {
        let bytes = Array("recording".utf8)
        #expect(checksum(of: bytes, partSize: 16, feedingBy: 3) == "sha256:" + Self.hex(SHA256.hash(data: bytes)))
        #expect(checksum(of: [], partSize: 16, feedingBy: 1) == "sha256:" + Self.hex(SHA256.hash(data: [UInt8]())))
    }

    @Test func partsMakeACompositeOfTheirDigestsWhateverTheChunking() {
        let bytes = (0..<40).map { UInt8($0) }
        let digests = [bytes[0..<16], bytes[16..<32], bytes[32..<40]].map { SHA256.hash(data: Array($0)) }
        var combined = SHA256()
        for digest in digests { combined.update(data: Array(digest)) }
        let expected = "sha256-composite:" + Self.hex(combined.finalize()) + "-3"
        for step in [1, 5, 16, 17, 40] {
            #expect(checksum(of: bytes, partSize: 16, feedingBy: step) == expected)
        }
    }

    @Test func exactlyOnePartIsACompositeOfOne() {
        let bytes = [UInt8](repeating: 7, count: 16)
        #expect(checksum(of: bytes, partSize: 16, feedingBy: 16).hasSuffix("-1"))
    }
}
