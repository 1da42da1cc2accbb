import Foundation
import Gateway
import NIOCore
import S3
import TestSupport
import Testing

/// What a hostile or broken S3-compatible store can answer (the project's S3 double), and what the gateway
/// does: it stays within its timeouts, never acknowledges a recording S3 did not take (no 201), and never
/// serves a truncated recording as whole. (A 100 MB answer against the real `serve`'s memory bound is in
/// ProcessMemoryTests.)
@Suite(.serialized)
struct HostileS3Tests {
    static let accountId = "0123456789abcdef0123456789abcdef"

    /// The gateway in this process with an account on a fresh double; S3 requests give up after `requestTimeout`.
    static func with(
        requestTimeout: Duration = .seconds(120),
        spool: Bool = true,
        downloadMode: Account.DownloadMode = .redirect,
        _ body: (TestGateway, S3Double, String) async throws -> Void
    ) async throws {
        let double = S3Double()
        let host = try await double.start()
        var config = TestGateway.config
        config.spoolEnabled = spool
        config.replayBaseDelaySeconds = 0.5
        config.replayMaxDelaySeconds = 1
        let s3: (inout S3ClientConfiguration) -> Void = { $0.requestTimeout = requestTimeout }
        try await TestGateway.with(config: config, s3: s3) { gateway in
            let token = try await gateway.addAccount(Self.accountId, host: host, bucket: "bucket", accessKeyId: "AKIDDOUBLE", secret: "double-secret")
            {
                $0.downloadMode = downloadMode
            }
            try await body(gateway, double, "/k/\(token)/\(Self.accountId)/")
        }
        try await double.stop()
    }

    @Test func anAnswerThatTricklesOneByteASecondEndsAtTheRequestTimeoutAndIsNeverTakenAsStored() async throws {
        try await Self.with(requestTimeout: .seconds(2)) { gateway, double, path in
            double.injectAlways(.trickle, into: "CompleteMultipartUpload")
            let body = TestEnvironment.randomBytes(9 * 1024 * 1024, seed: 401)
            let started = ContinuousClock.now
            let answer = try await gateway.send(.PUT, path + "trickle.mp3", body: body)
            let elapsed = ContinuousClock.now - started
            // Two attempts of two seconds each, then the spool takes the recording.
            #expect(answer.status == 202, "\(answer.status) \(answer.text)")
            #expect(elapsed < .seconds(30), "the store took \(elapsed)")
            #expect(double.object("\(Self.accountId)/trickle.mp3") == nil)
            // S3 answers again: the replay lands it, byte for byte.
            double.injectAlways(nil, into: "CompleteMultipartUpload")
            #expect(try await eventually(60) { double.object("\(Self.accountId)/trickle.mp3") != nil })
            #expect(double.object("\(Self.accountId)/trickle.mp3")?.bytes == ByteBuffer(bytes: body))
        }
    }

    @Test func aTricklingAnswerWithoutASpoolIsA503() async throws {
        try await Self.with(requestTimeout: .seconds(2), spool: false) { gateway, double, path in
            double.injectAlways(.trickle, into: "PutObject")
            let answer = try await gateway.send(.PUT, path + "trickle-small.mp3", body: Array("recording".utf8))
            #expect(answer.status == 503, "\(answer.status) \(answer.text)")
            #expect(answer.header("retry-after") != nil)
        }
    }

    @Test func anAssembledObjectOfOtherPartsThanWereSentIsNotTakenAsStored() async throws {
        try await Self.with { gateway, double, path in
            // Three parts were sent; S3's ETag says seven.
            double.inject(.etag("\"0123456789abcdef0123456789abcdef-7\""), into: "CompleteMultipartUpload")
            let body = TestEnvironment.randomBytes(17 * 1024 * 1024, seed: 402)
            let answer = try await gateway.send(.PUT, path + "parts.mp3", body: body)
            #expect(answer.status == 202, "\(answer.status) \(answer.text)")
            #expect(gateway.log.all.contains { $0.contains("CompleteMismatch") })
            // The replay sends the recording again; this time S3's answer agrees.
            #expect(try await eventually(60) { double.requests.filter { $0 == "CompleteMultipartUpload" }.count == 2 })
            #expect(try await eventually(30) { try await gateway.send(.HEAD, path + "parts.mp3").status == 200 })
            #expect(double.object("\(Self.accountId)/parts.mp3")?.bytes == ByteBuffer(bytes: body))
        }
    }

    @Test func aRedirectLoopIsNotFollowed() async throws {
        try await Self.with(spool: false, downloadMode: .proxy) { gateway, double, path in
            double.injectAlways(.redirectLoop, into: "PutObject")
            let started = ContinuousClock.now
            let store = try await gateway.send(.PUT, path + "loop.mp3", body: Array("recording".utf8))
            #expect(store.status == 503, "\(store.status) \(store.text)")
            #expect(double.requests.filter { $0 == "PutObject" }.count <= 2, "\(double.requests)")
            double.injectAlways(nil, into: "PutObject")
            #expect(try await gateway.send(.PUT, path + "loop.mp3", body: Array("recording".utf8)).status == 201)
            double.injectAlways(.redirectLoop, into: "GetObject")
            let fetch = try await gateway.send(.GET, path + "loop.mp3")
            #expect(fetch.status >= 500, "\(fetch.status) \(fetch.text)")
            #expect(double.requests.filter { $0 == "GetObject" }.count <= 2, "\(double.requests)")
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    @Test func aHeadWhileS3FailsIsA503ToTryAgainAndA502WhenS3RefusesIt() async throws {
        try await Self.with { gateway, double, path in
            #expect(try await gateway.send(.PUT, path + "head.mp3", body: Array("recording".utf8)).status == 201)
            double.injectAlways(.error(status: 503, code: "ServiceUnavailable"), into: "HeadObject")
            let unavailable = try await gateway.send(.HEAD, path + "head.mp3")
            #expect(unavailable.status == 503 && unavailable.header("retry-after") == "30", "\(unavailable.status)")
            double.injectAlways(.error(status: 403, code: "AccessDenied"), into: "HeadObject")
            #expect(try await gateway.send(.HEAD, path + "head.mp3").status == 502)
        }
    }

    @Test func aProxiedRecordingThatS3EndsShortIsNeverServedAsWhole() async throws {
        try await Self.with(downloadMode: .proxy) { gateway, double, path in
            let body = TestEnvironment.randomBytes(300_000, seed: 403)
            #expect(try await gateway.send(.PUT, path + "short.mp3", body: body).status == 201)
            let url = gateway.base + path + "short.mp3"
            let whole = try await onOwnThread { try Curl.run(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]) }
            #expect(whole.status == 0 && whole.output == "200 300000", "\(whole.output) \(whole.error)")

            double.inject(.shortBody(missing: 1000), into: "GetObject")
            let short = try await onOwnThread { try Curl.run(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]) }
            // curl: 18, "transfer closed with N bytes remaining to read" — the client knows it is not whole.
            #expect(short.status == 18, "curl exit \(short.status): \(short.output) \(short.error)")
            let received = Int(short.output.split(separator: " ").last ?? "") ?? 0
            #expect(short.output.hasPrefix("200 ") && received < 300_000, "\(short.output)")
        }
    }
}
