import Foundation
import SigV4
import TestSupport
import Testing

/// Presigned URLs made by the signer, used against `rclone serve s3`, a real server that verifies SigV4.
/// `./scripts/test` starts the server and sets `RG_RCLONE_ENDPOINT`, `RG_RCLONE_ACCESS_KEY` and `RG_RCLONE_SECRET_KEY`.
struct LivePresignTests {
    static let keys = [
        "a b.mp3", "plus+sign.mp3", "eq=uals.wav", "at@sign.mp3", "percent%20literal.mp3", "amp&ersand.mp3", "colon:.mp3",
        "comma,.mp3", "bang!.mp3", "quote'.mp3", "(paren).mp3", "star*.mp3", "dollar$.mp3", "semi;colon.mp3", "café/日本語.mp3",
        "emoji😀.wav", "all + = @ % & : , ! ' ( ) * $ ;.mp3", "hash#frag.mp3", "quest?ion.mp3", "tilde~dash-under_score.mp3",
        "4a9b2c3d4e5f60718293a4b5c6d7e8f9/202611-0123456789abcdef0123456789abcdef/call_recording_abc-123.mp3", "trailing//",
        "back\\slash.mp3",
    ]

    struct Server {
        var scheme: String
        var host: String
        var signer: SigV4Signer

        init() throws {
            let environment = ProcessInfo.processInfo.environment
            guard let endpoint = environment["RG_RCLONE_ENDPOINT"], let accessKey = environment["RG_RCLONE_ACCESS_KEY"],
                let secretKey = environment["RG_RCLONE_SECRET_KEY"], let split = endpoint.range(of: "://")
            else {
                throw Curl.CurlError(description: "no rclone server: run ./scripts/test, which starts `rclone serve s3` and sets RG_RCLONE_*")
            }
            scheme = String(endpoint[..<split.lowerBound])
            host = String(endpoint[split.upperBound...])
            signer = SigV4Signer(credentials: Credentials(accessKeyId: accessKey, secretAccessKey: secretKey), region: "us-east-1")
        }

        func url(_ method: String, _ path: String, expires: Int = 300, time: SigningTime = SigningTime(Date())) throws -> String {
            try signer.presign(SigningRequest(method: method, host: host, path: path), scheme: scheme, expires: expires, time: time).url
        }

        /// Creates a bucket with a header-signed request: the Authorization path of the signer, live.
        func createBucket(_ bucket: String) throws -> Curl.Response {
            let signed = signer.signHeaders(SigningRequest(method: "PUT", host: host, path: "/\(bucket)"), payload: .empty, time: SigningTime(Date()))
            return try Curl.request(
                ["--request", "PUT"] + signed.fields.flatMap { ["--header", "\($0.name): \($0.value)"] } + ["\(scheme)://\(host)/\(bucket)"]
            )
        }
    }

    @Test func presignedURLsForAwkwardKeysAreAcceptedAndTamperedOrExpiredOnesRefused() throws {
        let server = try Server()
        let bucket = "presign-\(UInt32.random(in: 0...UInt32.max))"
        let created = try server.createBucket(bucket)
        #expect(created.status == 200, "create bucket: \(created.text)")
        #expect(Self.keys.count >= 20)

        for key in Self.keys {
            let path = "/\(bucket)/\(key)"
            let content = Data("recording bytes of \(key)\n".utf8)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("body-\(UUID().uuidString)")
            try content.write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }

            // Not --upload-file: curl appends the file name to a URL that ends in `/`.
            let put = try Curl.request([
                "--request", "PUT", "--header", "Content-Type:", "--data-binary", "@\(file.path)", try server.url("PUT", path),
            ])
            #expect(put.status == 200, "PUT \(key): \(put.text)")

            let getURL = try server.url("GET", path)
            let get = try Curl.request([getURL])
            #expect(get.status == 200, "GET \(key): \(get.text)")
            #expect(get.body == content, "GET \(key) returned other bytes")

            let tampered = Self.flipLastSignatureCharacter(getURL)
            let refused = try Curl.request([tampered])
            #expect(refused.status == 403, "tampered GET \(key) answered \(refused.status)")
            #expect(refused.text.contains("SignatureDoesNotMatch"), "tampered GET \(key): \(refused.text)")

            // Signed two hours ago for one minute: expired. rclone answers 400 where AWS answers 403.
            let expired = try Curl.request([try server.url("GET", path, expires: 60, time: SigningTime(Date().addingTimeInterval(-7200)))])
            #expect([400, 403].contains(expired.status), "expired GET \(key) answered \(expired.status)")
            #expect(expired.body != content)
        }
    }

    /// rclone refuses to store keys with an empty segment in the middle (`a//b`), so a valid signature there
    /// meets "no such key" rather than a signature error; the tampered URL still meets SignatureDoesNotMatch.
    @Test func doubleSlashPathIsSignedAsSent() throws {
        let server = try Server()
        let url = try server.url("GET", "/no-such-bucket-\(UInt32.random(in: 0...UInt32.max))/double//slash.mp3")
        let accepted = try Curl.request([url])
        #expect(!accepted.text.contains("SignatureDoesNotMatch"), "\(accepted.status): \(accepted.text)")
        #expect(accepted.status == 404, "\(accepted.status): \(accepted.text)")
        let refused = try Curl.request([Self.flipLastSignatureCharacter(url)])
        #expect(refused.text.contains("SignatureDoesNotMatch"))
    }

    static func flipLastSignatureCharacter(_ url: String) -> String {
        var characters = Array(url)
        if let last = characters.last { characters[characters.count - 1] = last == "0" ? "1" : "0" }
        return String(characters)
    }
}
