import S3
import Testing

struct BucketNameTests {
    @Test(arguments: ["abc", "recordings-acme", "kazoo.rec.bucket", "a1b2c3", String(repeating: "a", count: 63)])
    func validNames(name: String) {
        #expect(BucketName.problem(with: name) == nil)
    }

    @Test(arguments: [
        "", "ab", String(repeating: "a", count: 64), "Recordings", "under_score", "-leading", "trailing-", "two..dots", "dot.-hyphen",
        "192.168.5.4", "xn--bucket", "bucket-s3alias", "bucket--ol-s3", "space bucket", "café",
    ])
    func invalidNamesSayWhy(name: String) {
        #expect(BucketName.problem(with: name) != nil)
    }
}
