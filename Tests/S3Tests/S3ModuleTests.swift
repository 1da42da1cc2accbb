import S3
import Testing

struct S3ModuleTests {
    /// The S3 target re-exports the signer it is built on, path-style URLs included.
    @Test func presignsThroughTheS3Module() throws {
        let signer = SigV4Signer(credentials: Credentials(accessKeyId: "AKID", secretAccessKey: "SECRET"), region: "us-west-1")
        let url = try signer.presign(
            SigningRequest(method: "GET", host: "s3.us-west-1.amazonaws.com", path: "/bucket/a b.mp3"),
            expires: 300,
            time: SigningTime(secondsSince1970: 1_800_000_000)
        )
        #expect(url.url.hasPrefix("https://s3.us-west-1.amazonaws.com/bucket/a%20b.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&"))
    }
}
