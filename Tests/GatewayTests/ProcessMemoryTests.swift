import AsyncHTTPClient
import Foundation
import NIOCore
import S3
import TestSupport
import Testing

@testable import Gateway

/// The memory of the real `serve` process (its peak RSS, VmHWM in /proc), not the budget's own counters:
/// many concurrent stores, an S3 slower than the clients, and clients that stall, with the spool on and off.
/// The bound is what `serve` holds idle, plus `memory_budget_bytes`, plus `slackMiB` for what the runtime
/// itself allocates under load (a connection's NIO and HTTP state, task stacks, the allocator's slack).
@Suite(.serialized)
struct ProcessMemoryTests {
    static let budgetMiB = 64
    static let slackMiB = 32

    /// A line of /proc/PID/status (`VmHWM`, `VmRSS`) in MiB.
    static func memory(_ pid: Int32, _ field: String) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("\(field):") })
        let kib = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""))
        return kib / 1024
    }

    /// glibc's extra arenas in the process: its heaps are 64 MiB reservations at 64 MiB-aligned addresses, the used
    /// front read-write and the rest inaccessible. `serve` keeps one arena (`AllocatorTuning`), so none.
    static func extraMallocArenas(_ pid: Int32) throws -> Int {
        let heapSize: UInt64 = 64 * 1024 * 1024
        let anonymous = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8).split(separator: "\n").compactMap {
            line -> (start: UInt64, end: UInt64)? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 5, fields[4] == "0" else { return nil }  // no file, no name
            let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            return range.count == 2 ? (range[0], range[1]) : nil
        }
        return anonymous.filter { map in
            guard map.start % heapSize == 0 else { return false }
            var end = map.end
            while end < map.start + heapSize, let next = anonymous.first(where: { $0.start == end }) { end = next.end }
            return end == map.start + heapSize
        }.count
    }

    /// `serve` with an account on `rclone serve s3` (or on `host`), warmed up by one store; its idle RSS.
    struct Running {
        let gateway: CrashSafetyTests.Setup
        let serve: BackgroundProcess
        let token: String
        let idleMiB: Int
        let budgetMiB: Int

        init(budgetMiB: Int = ProcessMemoryTests.budgetMiB, spool: Bool, moreConfig: String = "", s3Host: String? = nil) async throws {
            self.budgetMiB = budgetMiB
            gateway = try CrashSafetyTests.Setup(
                moreConfig: #", "spool_enabled": \#(spool), "memory_budget_bytes": \#(budgetMiB * 1024 * 1024)\#(moreConfig)"#
            )
            if let s3Host {
                token = try await gateway.addAccount(
                    bucket: try TestServers.environment("RG_RCLONE_BUCKET"),
                    host: s3Host,
                    accessKeyId: try TestServers.environment("RG_RCLONE_ACCESS_KEY"),
                    secret: try TestServers.environment("RG_RCLONE_SECRET_KEY")
                )
            } else {
                token = try await gateway.addRcloneAccount()
            }
            serve = try await gateway.serve()
            let warmUp = try await onOwnThread { [gateway, token] in
                try Curl.request(["-X", "PUT", "--data-binary", "warm", "http://127.0.0.1:\(gateway.port)/k/\(token)/\(gateway.accountId)/warm.mp3"])
            }
            try #require(warmUp.status == 201, "\(warmUp.text)")
            idleMiB = try ProcessMemoryTests.memory(serve.pid, "VmRSS")
        }

        func url(_ name: String) -> String { "http://127.0.0.1:\(gateway.port)/k/\(token)/\(gateway.accountId)/\(name)" }

        var peakMiB: Int { get throws { try ProcessMemoryTests.memory(serve.pid, "VmHWM") } }
        var boundMiB: Int { idleMiB + budgetMiB + ProcessMemoryTests.slackMiB }

        /// `count` concurrent stores of `mebibytes` MiB: every one 201, the peak RSS within the bound, every object byte for byte.
        func storeConcurrently(_ count: Int, mebibytes: Int = 9, name: String, seed: UInt64, what: String) async throws {
            let body = ByteBuffer(bytes: TestEnvironment.randomBytes(mebibytes * 1024 * 1024, seed: seed))
            let statuses = try await ProcessMemoryTests.send(count, body: body, to: url(name))
            let peak = try peakMiB
            #expect(statuses.filter { $0 == 201 }.count == count, "\(statuses.filter { $0 != 201 })")
            print("\(what): peak RSS \(peak) MiB (idle \(idleMiB), bound \(boundMiB))")
            #expect(peak <= boundMiB, "peak RSS \(peak) MiB, idle \(idleMiB) MiB, budget \(budgetMiB) MiB")
            try await ProcessMemoryTests.expectIdentical(body, keys: (0..<count).map { "\(gateway.accountId)/\(name)\($0).mp3" })
        }
    }

    @Test(arguments: [true, false])
    func twoHundredFiftySixConcurrentStoresStayWithinTheBudget(spool: Bool) async throws {
        let running = try await Running(spool: spool, moreConfig: #", "admission_timeout_seconds": 300"#)
        defer { _ = running.serve.stop() }
        // Before flow control: 2,323 MiB (release, spool on) for these 2.3 GB of bodies.
        try await running.storeConcurrently(256, name: "many-\(spool)-", seed: 171, what: "256 × 9 MiB, spool \(spool)")
        // Every thread allocates in the one arena (set before `run` started a second one, half the threads used it).
        #expect(try ProcessMemoryTests.extraMallocArenas(running.serve.pid) == 0)
    }

    /// Large stores with the spool on write their bytes past 32 MiB direct, each from a 2 MiB staging buffer (on a
    /// huge page) charged to the budget: the bound holds for those too.
    @Test func largeStoresWrittenAroundThePageCacheStayWithinTheBudget() async throws {
        let running = try await Running(spool: true, moreConfig: #", "admission_timeout_seconds": 300"#)
        defer { _ = running.serve.stop() }
        try await running.storeConcurrently(12, mebibytes: 48, name: "large-", seed: 173, what: "12 × 48 MiB, spool true")
    }

    @Test(arguments: [true, false])
    func anS3SlowerThanTheClientsStopsReadingTheirSockets(spool: Bool) async throws {
        // A proxy that lets 48 MiB/s through towards rclone: the clients send far faster.
        let proxyPort = BackgroundProcess.freePort()
        let rclonePort = try #require(URL(string: try TestServers.environment("RG_RCLONE_ENDPOINT"))?.port)
        let proxy = try BackgroundProcess(
            "python3",
            [TestServers.script("throttle-proxy.py"), "\(proxyPort)", "\(rclonePort)", "\(48 * 1024 * 1024)"]
        )
        defer { _ = proxy.stop() }
        try #require(BackgroundProcess.waitForPort(proxyPort))
        let running = try await Running(spool: spool, moreConfig: #", "admission_timeout_seconds": 300"#, s3Host: "127.0.0.1:\(proxyPort)")
        defer { _ = running.serve.stop() }
        try await running.storeConcurrently(64, name: "slow-\(spool)-", seed: 172, what: "64 × 9 MiB to a 48 MiB/s S3, spool \(spool)")
    }

    @Test(arguments: [true, false])
    func stalledUploadsHoldNothingAnotherStoreNeeds(spool: Bool) async throws {
        // 300 stalled stores need 300 slots and connections: 400 slots set aside 75 MiB of a 128 MiB budget, the
        // 512 connections it allows by default 32 MiB.
        let running = try await Running(
            budgetMiB: 128,
            spool: spool,
            moreConfig: #", "max_concurrent_stores": 400, "body_idle_timeout_seconds": 4"#
        )
        defer { _ = running.serve.stop() }
        let port = running.gateway.port
        let path = "/k/\(running.token)/\(running.gateway.accountId)/stalled-\(spool)-"
        // Each sends its head and 100 bytes of a 1 MB body, then nothing.
        let stalled = try await onOwnThread {
            try (0..<300).map { index in
                let connection = try RawConnection(port: port)
                try connection.send(
                    "PUT \(path)\(index).mp3 HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1000000\r\n\r\n" + String(repeating: "x", count: 100)
                )
                return connection
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        let normal = try await onOwnThread { try Curl.request(["-X", "PUT", "--data-binary", "hello", running.url("beside-\(spool).mp3")]) }
        let elapsed = ContinuousClock.now - started
        #expect(normal.status == 201, "\(normal.text)")
        #expect(elapsed < .seconds(1), "a store beside 300 stalled ones took \(elapsed)")
        // After the idle timeout each stalled store is answered 408 and its connection closed; nothing stored.
        let answers = try await onOwnThread { stalled.map { $0.receiveUntilClosed(seconds: 15) } }
        #expect(answers.filter { $0.hasPrefix("HTTP/1.1 408") && $0.contains("body_idle") }.count == 300, "\(answers.first ?? "")")
        let listed = try await TestServers.rclone().listObjects(prefix: "\(running.gateway.accountId)/stalled-")
        #expect(listed.objects.isEmpty, "\(listed.objects.map(\.key))")
        #expect(running.gateway.spoolFiles.isEmpty)
        #expect(try running.peakMiB <= running.boundMiB)
        #expect(running.serve.output.components(separatedBy: "store dropped: the body sent nothing for 4 s").count - 1 == 300)
    }

    /// A hostile S3 answers every CreateMultipartUpload and PutObject with a 100 MB XML document: the gateway reads
    /// at most 64 KiB of each and refuses it, so 48 concurrent stores stay within the bound, and none is taken as
    /// stored (202 from the spool, or 503 without it; never 201).
    @Test(arguments: [true, false])
    func hundredMegabyteAnswersFromS3AreRefusedNotHeld(spool: Bool) async throws {
        let double = S3Double(keepBytes: false)
        let host = try await double.start()
        let running = try await Running(spool: spool, moreConfig: #", "s3_retry_max_attempts": 2"#, s3Host: host)
        defer { _ = running.serve.stop() }
        for operation in ["CreateMultipartUpload", "PutObject"] { double.injectAlways(.hugeAnswer(bytes: 100_000_000), into: operation) }
        let large = ByteBuffer(bytes: TestEnvironment.randomBytes(9 * 1024 * 1024, seed: 173))
        let small = ByteBuffer(bytes: TestEnvironment.randomBytes(100_000, seed: 174))
        async let largeStatuses = Self.send(24, body: large, to: running.url("huge-answer-large-\(spool)-"))
        async let smallStatuses = Self.send(24, body: small, to: running.url("huge-answer-small-\(spool)-"))
        let statuses = try await largeStatuses + smallStatuses
        let peak = try running.peakMiB
        print("48 stores against 100 MB answers, spool \(spool): peak RSS \(peak) MiB (idle \(running.idleMiB), bound \(running.boundMiB))")
        #expect(statuses.allSatisfy { $0 == (spool ? 202 : 503) }, "\(statuses)")
        #expect(peak <= running.boundMiB, "peak RSS \(peak) MiB, idle \(running.idleMiB) MiB, budget \(running.budgetMiB) MiB")
        #expect(double.requests.filter { $0 == "CompleteMultipartUpload" || $0 == "UploadPart" }.isEmpty)
        #expect(running.serve.output.contains("ResponseTooLarge"))
        try await double.stop()
    }

    /// `count` concurrent PUTs of `body`, one connection each; their statuses.
    static func send(_ count: Int, body: ByteBuffer, to base: String) async throws -> [UInt] {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = count
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let sent: Result<[UInt], any Error>
        do {
            sent = .success(
                try await withThrowingTaskGroup(of: UInt.self) { group in
                    for store in 0..<count {
                        group.addTask {
                            var request = HTTPClientRequest(url: base + "\(store).mp3")
                            request.method = .PUT
                            request.body = .bytes(body)
                            let response = try await client.execute(request, timeout: .seconds(300))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            return response.status.code
                        }
                    }
                    var statuses: [UInt] = []
                    for try await status in group { statuses.append(status) }
                    return statuses
                }
            )
        } catch {
            sent = .failure(error)
        }
        try await client.shutdown()
        return try sent.get()
    }

    /// Every key in rclone holds exactly `body`.
    static func expectIdentical(_ body: ByteBuffer, keys: [String]) async throws {
        let rclone = try TestServers.rclone()
        var different: [String] = []
        for key in keys {
            guard let object = try await rclone.getObject(key: key) else {
                different.append(key)
                continue
            }
            if try await object.body.collect(upTo: body.readableBytes + 1) != body { different.append(key) }
        }
        #expect(different.isEmpty, "not stored byte for byte: \(different.prefix(5))")
    }
}
