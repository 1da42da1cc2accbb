import Foundation
import NIOCore
import S3
import TestSupport
import Testing

/// What real AWS does and no local server can, from the project's own S3 double: each case ends in
/// success after retries or in the right permanent error, without the test ever sleeping.
@Suite(.serialized)
struct FaultInjectionTests {
    static let mebibyte = 1024 * 1024

    /// A started double and a client for it whose sleeps are recorded, not slept.
    struct Fixture {
        let double: S3Double
        let client: S3Client
        let sleeps: Counter

        init(keepBytes: Bool = true, configure: (inout S3ClientConfiguration) -> Void = { _ in }) async throws {
            double = S3Double(keepBytes: keepBytes)
            let host = try await double.start()
            let sleeps = Counter()
            var configuration = S3ClientConfiguration()
            configuration.sleep = { _ in sleeps.increment() }
            configuration.random = { 0.5 }
            configure(&configuration)
            self.sleeps = sleeps
            client = S3Client(
                endpoint: try S3Endpoint(host: host, scheme: .http, addressingStyle: .path),
                bucket: "bucket",
                credentials: Credentials(accessKeyId: "AKID", secretAccessKey: "SECRET"),
                http: TestServers.http,
                configuration: configuration
            )
        }
    }

    func upload(
        _ size: Int,
        key: String,
        with fixture: Fixture,
        seed: UInt8 = 7,
        log: CapturedLog = CapturedLog(),
        budget: MemoryBudget = MemoryBudget(capacity: 64 * 1024 * 1024)
    ) async throws -> UploadResult {
        let uploader = MultipartUploader(
            budget: budget,
            partSize: 8 * Self.mebibyte,
            parallelParts: 4,
            logger: log.logger
        )
        return try await uploader.upload(GeneratedBody(length: size, seed: seed), to: fixture.client, key: key)
    }

    func storedBytesMatch(_ fixture: Fixture, key: String, size: Int, seed: UInt8 = 7) throws -> Bool {
        let stored = try #require(fixture.double.object(key)?.bytes)
        guard stored.readableBytes == size else { return false }
        return stored.withUnsafeReadableBytes { raw in
            (0..<size).allSatisfy { raw[$0] == GeneratedBody.byte(at: $0, seed: seed) }
        }
    }

    @Test func slowDownThenSuccess() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.error(status: 503, code: "SlowDown"), into: "PutObject")
        _ = try await fixture.client.putObject(key: "k.mp3", body: ByteBuffer(string: "recording"))
        #expect(fixture.double.requests == ["PutObject", "PutObject"])
        #expect(fixture.sleeps.value == 1)
        #expect(fixture.double.object("k.mp3")?.size == 9)
    }

    @Test func internalErrorOnAPartThenSuccess() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.error(status: 500, code: "InternalError"), into: "UploadPart")
        let size = 2 * 8 * Self.mebibyte + 5
        let result = try await upload(size, key: "two-parts.mp3", with: fixture)
        #expect(result.parts == 3)
        #expect(fixture.double.requests.filter { $0 == "UploadPart" }.count == 4)
        #expect(try storedBytesMatch(fixture, key: "two-parts.mp3", size: size))
    }

    @Test func connectionResetInTheMiddleOfAPartThenSuccess() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.resetAfter(bytes: 3 * Self.mebibyte), into: "UploadPart")
        let size = 3 * 8 * Self.mebibyte + 17
        _ = try await upload(size, key: "reset.mp3", with: fixture)
        #expect(fixture.sleeps.value == 1)
        #expect(try storedBytesMatch(fixture, key: "reset.mp3", size: size))
    }

    @Test func answerSlowerThanTheTimeoutThenSuccess() async throws {
        // The timeout leaves the immediate second answer room on a machine running every suite at
        // once (300 ms did not: CI once saw a third attempt); the delay is far beyond it, so that
        // even a starved event loop times the first attempt out.
        let fixture = try await Fixture { $0.requestTimeout = .seconds(3) }
        fixture.double.inject(.delay(milliseconds: 10_000), into: "PutObject")
        _ = try await fixture.client.putObject(key: "slow.mp3", body: ByteBuffer(string: "late"))
        #expect(fixture.double.requests == ["PutObject", "PutObject"])
        #expect(fixture.sleeps.value == 1)
    }

    @Test func completeAnswering200WithAnErrorDocumentIsRetried() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.errorDocumentWith200(code: "InternalError"), into: "CompleteMultipartUpload")
        let size = 8 * Self.mebibyte + 1
        let result = try await upload(size, key: "complete.mp3", with: fixture)
        #expect(result.etag == "\"complete-etag\"")
        #expect(fixture.double.requests.filter { $0 == "CompleteMultipartUpload" }.count == 2)
        #expect(try storedBytesMatch(fixture, key: "complete.mp3", size: size))
    }

    @Test func completeAnswering200WithAPermanentErrorFailsAndTriesAbort() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.errorDocumentWith200(code: "InvalidPart"), into: "CompleteMultipartUpload")
        let log = CapturedLog()
        let budget = MemoryBudget(capacity: 64 * Self.mebibyte)
        do {
            _ = try await upload(8 * Self.mebibyte + 1, key: "invalid.mp3", with: fixture, log: log, budget: budget)
            Issue.record("a 200 carrying an <Error> document was taken as success")
        } catch let error as S3Error {
            #expect(error.code == "InvalidPart")
            #expect(error.status == 200)
        }
        #expect(fixture.double.requests.suffix(2) == ["CompleteMultipartUpload", "AbortMultipartUpload"])
        #expect(fixture.double.object("invalid.mp3") == nil)
        #expect(budget.inUse == 0, "a failed upload gave every buffer back")
        // The double denies Abort, as least privilege does: the upload id is logged for the operator.
        #expect(log.all.contains { $0.contains("AbortIncompleteMultipartUpload") && $0.contains("upload_id=upload-1") })
    }

    @Test func clockSkewIsCorrectedFromTheServersDate() async throws {
        // This machine's clock is an hour behind.
        let fixture = try await Fixture { $0.now = { Date().addingTimeInterval(-3600) } }
        _ = try await fixture.client.putObject(key: "skew.mp3", body: ByteBuffer(string: "a"))
        _ = try await fixture.client.putObject(key: "skew2.mp3", body: ByteBuffer(string: "b"))
        // One refusal, one immediate retry, and the second request is signed right the first time.
        #expect(fixture.double.requests == ["PutObject", "PutObject", "PutObject"])
        #expect(fixture.sleeps.value == 0)
        #expect(fixture.double.object("skew2.mp3") != nil)
    }

    /// S3 checks the signed SHA-256 against the bytes it received; so does the double.
    @Test func aBodyThatDoesNotMatchItsSignedHashIsRefused() async throws {
        let fixture = try await Fixture()
        do {
            _ = try await fixture.client.putObject(key: "corrupt.mp3", body: ByteBuffer(string: "bytes"), sha256: .empty)
            Issue.record("a body with the wrong hash was stored")
        } catch {
            #expect(error.code == "XAmzContentSHA256Mismatch")
        }
        #expect(fixture.double.requests == ["PutObject"])
        #expect(fixture.double.object("corrupt.mp3") == nil)
    }

    @Test func permanentErrorsAreNotRetried() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.error(status: 403, code: "AccessDenied"), into: "PutObject")
        await #expect(throws: S3Error.self) { try await fixture.client.putObject(key: "denied.mp3", body: ByteBuffer(string: "x")) }
        #expect(fixture.double.requests == ["PutObject"])
        #expect(fixture.sleeps.value == 0)
    }

    @Test func retriesStopAtTheAttemptLimit() async throws {
        let fixture = try await Fixture { $0.retry = RetryPolicy(maxAttempts: 3) }
        for _ in 0..<5 { fixture.double.inject(.error(status: 503, code: "SlowDown"), into: "PutObject") }
        do {
            _ = try await fixture.client.putObject(key: "throttled.mp3", body: ByteBuffer(string: "x"))
            Issue.record("expected SlowDown")
        } catch {
            #expect(error.code == "SlowDown")
        }
        #expect(fixture.double.requests.count == 3)
        #expect(fixture.sleeps.value == 2)
    }

    @Test func wrongRegionNamesTheRightOne() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.wrongRegion("eu-west-3"), into: "PutObject")
        do {
            _ = try await fixture.client.putObject(key: "region.mp3", body: ByteBuffer(string: "x"))
            Issue.record("expected a region error")
        } catch {
            #expect(error.isRegionMismatch)
            #expect(!error.isRetryable)
            #expect(error.description.contains("eu-west-3"))
        }
        #expect(fixture.double.requests == ["PutObject"])
    }

    @Test func permanentRedirectNamesTheRegionFromItsHeader() async throws {
        let fixture = try await Fixture()
        fixture.double.inject(.permanentRedirect(region: "ap-southeast-2"), into: "HeadObject")
        do {
            _ = try await fixture.client.headObject(key: "anything.mp3")
            Issue.record("expected a region error")
        } catch {
            #expect(error.status == 301)
            #expect(error.isRegionMismatch)
            #expect(error.isAccountProblem)
            #expect(error.description.contains("ap-southeast-2"))
        }
    }

    @Test func cancellingAnUploadStopsReadingAndReleasesEveryBuffer() async throws {
        let fixture = try await Fixture()
        let budget = MemoryBudget(capacity: 64 * Self.mebibyte)
        let uploader = MultipartUploader(budget: budget, partSize: 8 * Self.mebibyte, parallelParts: 4)
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let chunk = ByteBuffer(repeating: 0x41, count: Self.mebibyte)
        for _ in 0..<20 { continuation.yield(chunk) }  // 20 MiB, then the client goes quiet
        let task = Task { try await uploader.upload(stream, to: fixture.client, key: "cancelled.mp3") }
        #expect(try await eventually(10, every: .milliseconds(10)) { fixture.double.requests.contains("UploadPart") })
        task.cancel()
        await #expect(throws: (any Error).self) { try await task.value }
        continuation.finish()
        #expect(budget.inUse == 0)
        // Aborted, never completed. (Not "the last request": an UploadPart sent before the cancellation may reach the
        // double on its own connection after the abort does; seen once in a clean-clone run.)
        #expect(fixture.double.requests.contains("AbortMultipartUpload"))
        #expect(!fixture.double.requests.contains("CompleteMultipartUpload"))
        #expect(fixture.sleeps.value == 0, "a cancelled upload was retried")
        #expect(fixture.double.object("cancelled.mp3") == nil)
    }

    @Test func thirtyTwoConcurrentUploadsStayWithinTheBudget() async throws {
        let fixture = try await Fixture(keepBytes: false)
        let budget = MemoryBudget(capacity: 64 * Self.mebibyte)
        let uploader = MultipartUploader(budget: budget, partSize: 8 * Self.mebibyte, parallelParts: 4)
        let size = 40 * Self.mebibyte
        try await withThrowingTaskGroup(of: UploadResult.self) { group in
            for index in 0..<32 {
                group.addTask {
                    try await uploader.upload(RepeatedBody(length: size), to: fixture.client, key: "load/\(index).mp3")
                }
            }
            for try await result in group { #expect(result.size == size) }
        }
        #expect(budget.highWaterMark <= 64 * Self.mebibyte)
        #expect(budget.highWaterMark >= 8 * Self.mebibyte)
        #expect(budget.inUse == 0)
        for index in 0..<32 { #expect(fixture.double.object("load/\(index).mp3")?.size == size) }
    }
}

/// `length` bytes made of one shared 64 KiB chunk: a load body that costs nothing to produce.
struct RepeatedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let length: Int
    static let chunk = ByteBuffer(repeating: 0x5A, count: 64 * 1024)

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Int
        mutating func next() async -> ByteBuffer? {
            guard remaining > 0 else { return nil }
            let count = Swift.min(remaining, RepeatedBody.chunk.readableBytes)
            remaining -= count
            return RepeatedBody.chunk.getSlice(at: 0, length: count)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: length) }
}
