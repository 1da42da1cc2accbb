import AsyncHTTPClient
import NIOCore
import S3
import TestSupport
import Testing

/// The client against `rclone serve s3`, which checks every header signature and presigned URL.
struct RcloneClientTests {
    @Test func multipartUploadThenPresignedGetWithResponseOverrides() async throws {
        let client = try TestServers.rclone()
        let size = 9 * 1024 * 1024 + 3
        let key = "rclone/a b+c=@ café 😀.mp3"
        let uploader = MultipartUploader(budget: MemoryBudget(capacity: 32 * 1024 * 1024), partSize: 5 * 1024 * 1024, parallelParts: 2)
        let result = try await uploader.upload(
            GeneratedBody(length: size, seed: 3),
            to: client,
            key: key,
            options: S3ObjectOptions(contentType: "audio/mpeg")
        )
        #expect(result.parts == 2)

        let url = try client.presignedGetURL(
            key: key,
            expires: 300,
            responseContentType: "audio/wav",
            responseContentDisposition: "attachment; filename=\"call.wav\""
        )
        let response = try await TestServers.http.execute(HTTPClientRequest(url: url.url), timeout: .seconds(30))
        #expect(response.status == .ok)
        #expect(response.headers.first(name: "content-type") == "audio/wav")
        #expect(response.headers.first(name: "content-disposition") == "attachment; filename=\"call.wav\"")
        let (bytes, mismatch, checksum) = try await GeneratedBody.compare(response.body, length: size, seed: 3, partSize: 5 * 1024 * 1024)
        #expect(bytes == size)
        #expect(mismatch == nil)
        #expect(checksum == result.checksum)
        #expect(result.checksum.hasPrefix("sha256-composite:") && result.checksum.hasSuffix("-2"))

        let listed = try await client.listObjects(prefix: "rclone/")
        #expect(listed.objects.map(\.key).contains(key))
    }
}
