import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import S3
import TestSupport
import Testing

/// The uploader against moto with IAM enforced and exactly the least-privilege policy
/// (s3:ListBucket, s3:PutObject, s3:GetObject on rg-recordings): what our users grant.
@Suite(.serialized)
struct MotoUploadTests {
    static let mebibyte = 1024 * 1024
    static let cases: [(size: Int, key: String)] = [
        (0, "empty file.mp3"),
        (1, "one+byte=@.wav"),
        (5 * mebibyte - 1, "just under % & : , ! ' ( ) * $ ;.mp3"),
        (5 * mebibyte, "café/日本語 exactly five.mp3"),
        (8 * mebibyte + 1, "4a9b2c3d4e5f60718293a4b5c6d7e8f9/202611-0123456789abcdef0123456789abcdef/call_recording_abc-123.mp3"),
        (3 * 8 * mebibyte + 17, "three parts and a bit 😀.wav"),
        (100 * mebibyte, "hundred/mebibytes.mp3"),
    ]

    /// Every size with S3's minimum part size (5 MiB: moto enforces EntityTooSmall) and with the default (8 MiB).
    @Test(arguments: 0..<cases.count, [5, 8])
    func uploadsAndReadsBackByteForByte(index: Int, partMiB: Int) async throws {
        let (size, baseKey) = Self.cases[index]
        let key = "\(partMiB)/" + baseKey
        let client = try TestServers.moto()
        let budget = MemoryBudget(capacity: 64 * Self.mebibyte)
        let partSize = partMiB * Self.mebibyte
        let uploader = MultipartUploader(budget: budget, partSize: partSize, parallelParts: 4)
        let seed = UInt8(truncatingIfNeeded: index &* 37 &+ 1)
        let options = S3ObjectOptions(contentType: "audio/mpeg", metadata: ["call-id": "abc-123", "caller": "Zoë"], serverSideEncryption: .aes256)

        let result = try await uploader.upload(GeneratedBody(length: size, seed: seed), to: client, key: key, options: options)
        #expect(result.size == size)
        #expect(result.partSize == partSize)
        // Less than one part is one PutObject (0 parts); more is ceil(size / part size) parts.
        #expect(result.parts == (size < partSize ? 0 : (size + partSize - 1) / partSize))
        #expect(budget.inUse == 0)
        #expect(budget.highWaterMark <= 64 * Self.mebibyte)

        let head = try #require(try await client.headObject(key: key))
        #expect(head.size == size)
        #expect(head.contentType == "audio/mpeg")
        #expect(head.serverSideEncryption == "AES256")
        #expect(head.metadata["call-id"] == "abc-123")
        #expect(head.metadata["caller"].map(S3Metadata.decodeValue) == "Zoë")

        let object = try #require(try await client.getObject(key: key))
        let (bytes, mismatch, checksum) = try await GeneratedBody.compare(object.body, length: size, seed: seed, partSize: partSize)
        #expect(mismatch == nil, "first differing byte at \(mismatch ?? -1)")
        #expect(bytes == size)
        #expect(checksum == result.checksum, "the uploader's checksum is the checksum of what S3 returns")

        let listed = try await client.listObjects(prefix: key)
        #expect(listed.objects.contains { $0.key == key && $0.size == size })
    }

    @Test func wrongSecretFailsOnceWithSignatureDoesNotMatch() async throws {
        let sleeps = Counter()
        var configuration = S3ClientConfiguration()
        configuration.sleep = { _ in sleeps.increment() }
        let client = try TestServers.moto(secret: "wrong-secret-wrong-secret-wrong-secret-0", configuration: configuration)
        do {
            _ = try await client.putObject(key: "wrong-secret.mp3", body: ByteBuffer(string: "x"))
            Issue.record("a wrong secret was accepted")
        } catch {
            #expect(error.code == "SignatureDoesNotMatch")
            #expect(error.isAccountProblem)
            #expect(!error.isRetryable)
            #expect(error.description.contains("secret access key for this account was rejected"))
            #expect(!error.description.contains("wrong-secret"))
        }
        #expect(sleeps.value == 0, "a permanent error was retried")
    }

    @Test func anotherBucketIsDenied() async throws {
        let client = try TestServers.moto(bucket: try TestServers.environment("RG_MOTO_OTHER_BUCKET"))
        do {
            _ = try await client.putObject(key: "not-mine.mp3", body: ByteBuffer(string: "x"))
            Issue.record("the least-privilege user wrote another bucket")
        } catch {
            #expect(error.code == "AccessDenied")
            #expect(error.description.contains("AccessDenied"))
        }
    }

    /// Least privilege has no s3:AbortMultipartUpload: the courtesy abort is denied and reported as such.
    @Test func abortIsDeniedUnderLeastPrivilege() async throws {
        let client = try TestServers.moto()
        let uploadId = try await client.createMultipartUpload(key: "abandoned.mp3")
        #expect(await client.abortMultipartUpload(key: "abandoned.mp3", uploadId: uploadId) == .denied)
    }

    @Test func missingObjectIsNil() async throws {
        let client = try TestServers.moto()
        #expect(try await client.headObject(key: "no/such/object.mp3") == nil)
        #expect(try await client.getObject(key: "no/such/object.mp3") == nil)
    }
}

/// Counts calls from concurrent code.
final class Counter: Sendable {
    private let count = NIOLockedValueBox(0)
    func increment() { count.withLockedValue { $0 += 1 } }
    var value: Int { count.withLockedValue { $0 } }
}
