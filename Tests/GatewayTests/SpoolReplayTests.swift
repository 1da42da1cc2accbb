import Foundation
import S3
import Spool
import TestSupport
import Testing

@testable import Gateway

/// Promise 1: a recording the gateway acknowledged reaches the bucket, whatever S3 does meanwhile.
/// The in-process gateway, real S3 servers: a private moto stopped and started, the shared moto with
/// IAM enforced, rclone serve s3.
struct SpoolReplayTests {
    /// Replays come quickly in tests (0.2 s first backoff, 1 s cap); any free space will do.
    static var config: GatewayConfig {
        var config = TestGateway.config
        config.replayBaseDelaySeconds = 0.2
        config.replayMaxDelaySeconds = 1
        config.spoolMinFreeBytes = 0
        return config
    }

    /// Polls `condition` until it holds or `seconds` pass.
    static func client(for moto: PrivateMoto) throws -> S3Client {
        S3Client(
            endpoint: try S3Endpoint(host: moto.host, scheme: .http, addressingStyle: .path),
            bucket: moto.bucket,
            credentials: Credentials(accessKeyId: "AKIDPRIVATEMOTO", secretAccessKey: "private-moto-secret"),
            http: TestServers.http
        )
    }

    static func objectBytes(_ client: S3Client, _ key: String) async throws -> [UInt8]? {
        guard let object = try await client.getObject(key: key) else { return nil }
        var bytes: [UInt8] = []
        for try await chunk in object.body { bytes += chunk.readableBytesView }
        return bytes
    }

    /// A gateway (`config`) with one account on a private moto, which the test may stop and start.
    static func withPrivateMoto(
        _ body: (TestGateway, PrivateMoto, _ accountId: String, _ token: String) async throws -> Void
    ) async throws {
        let moto = PrivateMoto()
        try await onOwnThread { try moto.start() }
        defer { moto.stop() }
        try await TestGateway.with(config: Self.config) { gateway in
            let id = TestEnvironment.accountId()
            let token = try await gateway.addAccount(
                id,
                host: moto.host,
                bucket: moto.bucket,
                accessKeyId: "AKIDPRIVATEMOTO",
                secret: "private-moto-secret"
            )
            try await body(gateway, moto, id, token)
        }
    }

    @Test func s3DownStoreIsAcknowledgedEncryptedServedFromTheSpoolAndReplayed() async throws {
        try await Self.withPrivateMoto { gateway, moto, id, token in
            await Task.detached { moto.stop() }.value

            let bytes = TestEnvironment.randomBytes(9 * 1024 * 1024 + 7, seed: 51)
            let path = "/k/\(token)/\(id)/outage/call.mp3"
            let put = try await gateway.send(.PUT, path, body: bytes, headers: [("Content-Type", "audio/mpeg")])
            #expect(put.status == 202, "\(put.text)")
            let rows = try await gateway.runtime.ledger.uploads(accountId: id)
            try #require(rows.count == 1)
            #expect(rows[0].size == bytes.count)
            #expect([.pending, .uploading].contains(rows[0].state))
            let file = gateway.runtime.ledger.spool.path(rows[0].spoolFile)

            // Encrypted at rest: no run of the recording's bytes is in the file.
            let raw = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(raw.count > bytes.count)
            for offset in stride(from: 0, to: bytes.count - 64, by: 1024 * 1024) {
                #expect(raw.range(of: Data(bytes[offset..<(offset + 64)])) == nil)
            }

            // Playback during the outage: GET and HEAD come from the spool.
            let head = try await gateway.send(.HEAD, path)
            #expect(head.status == 200)
            #expect(head.header("content-length") == "\(bytes.count)")
            #expect(head.header("content-type") == "audio/mpeg")
            let get = try await gateway.send(.GET, path + "/\(id)/outage/call.mp3")  // KAZOO doubles the path
            #expect(get.status == 200)
            #expect(get.header("content-type") == "audio/mpeg")
            #expect(get.body == bytes)

            // S3 is back: the worker uploads it without anyone's help.
            try await onOwnThread { try moto.start() }
            let stored = try await eventually { try await gateway.runtime.ledger.upload(rows[0].id ?? 0)?.state == .stored }
            let rowsNow = (try? await gateway.runtime.ledger.uploads(accountId: id)) ?? []
            #expect(stored, "\(rowsNow)")
            #expect(!FileManager.default.fileExists(atPath: file))
            let key = "\(id)/outage/call.mp3"
            #expect(try await Self.objectBytes(Self.client(for: moto), key) == bytes)
            let redirected = try await gateway.send(.GET, path)
            #expect(redirected.status == 302)
        }
    }

    /// A recording shorter than one part goes to S3 as one PutObject, held whole in memory until S3 answers:
    /// it is written to the spool only when S3 does not take it (then acknowledged 202 and replayed as any
    /// other), so a store S3 takes touches no file. A longer one is written ahead (its parts leave memory).
    @Test func aOnePutRecordingIsSpooledOnlyWhenS3DoesNotTakeIt() async throws {
        try await Self.withPrivateMoto { gateway, moto, id, token in
            let directory = gateway.runtime.ledger.spool.settings.directory
            let filesInSpool = { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") } }
            let small = TestEnvironment.randomBytes(1024 * 1024 + 5, seed: 57)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/taken.mp3", body: small).status == 201)
            #expect(filesInSpool().isEmpty, "S3 took it: no spool file was ever made")
            #expect(try await Self.objectBytes(Self.client(for: moto), "\(id)/taken.mp3") == small)
            let large = TestEnvironment.randomBytes(9 * 1024 * 1024, seed: 58)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/parts.mp3", body: large).status == 201)
            #expect(filesInSpool().count == 1, "written ahead, then kept to be written over: \(filesInSpool())")

            await Task.detached { moto.stop() }.value
            let put = try await gateway.send(.PUT, "/k/\(token)/\(id)/outage.mp3", body: small)
            #expect(put.status == 202, "\(put.text)")
            let rows = try await gateway.runtime.ledger.uploads(accountId: id)
            try #require(rows.count == 1)
            #expect(rows[0].size == small.count)
            let raw = try Data(contentsOf: URL(fileURLWithPath: gateway.runtime.ledger.spool.path(rows[0].spoolFile)))
            #expect(raw.range(of: Data(small[4096..<4160])) == nil, "encrypted at rest")
            #expect(try await gateway.send(.GET, "/k/\(token)/\(id)/outage.mp3").body == small, "served from the spool")
            // An empty body is one (empty) PutObject too.
            let empty = try await gateway.send(.PUT, "/k/\(token)/\(id)/empty.mp3", body: [])
            #expect(empty.status == 202, "\(empty.text)")

            try await onOwnThread { try moto.start() }
            #expect(try await eventually { try await gateway.runtime.ledger.uploads(accountId: id).allSatisfy { $0.state == .stored } })
            #expect(try await Self.objectBytes(Self.client(for: moto), "\(id)/outage.mp3") == small)
            #expect(try await Self.objectBytes(Self.client(for: moto), "\(id)/empty.mp3") == [])
        }
    }

    /// A large store's write-ahead bytes past 32 MiB go around the page cache (`DirectWrites`): a store S3 took
    /// leaves its kept file with nothing of that range cached, and one S3 did not take is spooled whole,
    /// acknowledged and replayed byte for byte.
    @Test func aLargeStoreIsWrittenAheadAroundThePageCacheAndSpooledWholeWhenS3Fails() async throws {
        try await Self.withPrivateMoto { gateway, moto, id, token in
            let directory = gateway.runtime.ledger.spool.settings.directory
            let bytes = TestEnvironment.randomBytes(40 * 1024 * 1024 + 9, seed: 59)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/taken.mp3", body: bytes).status == 201)
            let kept = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".free") }
            try #require(kept.count == 1, "the written-ahead file is kept to be written over")
            let mebibyte = 1024 * 1024
            if !PageCache.filesLiveInMemory(directory) {
                #expect(PageCache.cachedPages(directory + "/" + kept[0], (34 * mebibyte)..<(39 * mebibyte)) == 0, "past 32 MiB, not cached")
            }
            #expect((PageCache.cachedPages(directory + "/" + kept[0], 0..<(30 * mebibyte)) ?? 0) > 0, "below it, the page cache")
            #expect(gateway.runtime.memory.parts.inUse == 0, "the staging buffer went back to the budget")

            await Task.detached { moto.stop() }.value
            let put = try await gateway.send(.PUT, "/k/\(token)/\(id)/outage.mp3", body: bytes)
            #expect(put.status == 202, "\(put.text)")
            #expect(try await gateway.send(.GET, "/k/\(token)/\(id)/outage.mp3").body == bytes, "served from the spool")
            try await onOwnThread { try moto.start() }
            #expect(try await eventually { try await gateway.runtime.ledger.uploads(accountId: id).allSatisfy { $0.state == .stored } })
            #expect(try await Self.objectBytes(Self.client(for: moto), "\(id)/outage.mp3") == bytes)
        }
    }

    @Test func refusedCredentialsPauseOnlyThatAccountUntilItIsUpdated() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let broken = TestEnvironment.accountId()
            let healthy = TestEnvironment.accountId()
            let brokenToken = try await gateway.addMotoAccount(broken) { $0.secretAccessKey = "not-the-secret-0123456789abcdefghij" }
            let healthyToken = try await gateway.addMotoAccount(healthy)
            let queue = gateway.runtime.storage

            let first = TestEnvironment.randomBytes(300_000, seed: 61)
            let second = TestEnvironment.randomBytes(200_000, seed: 62)
            #expect(try await gateway.send(.PUT, "/k/\(brokenToken)/\(broken)/a.mp3", body: first).status == 202)
            #expect(try await gateway.send(.PUT, "/k/\(brokenToken)/\(broken)/b.mp3", body: second).status == 202)
            #expect(try await eventually { try await queue.accountPauses()[broken] != nil })

            // The other account's stores and replays go on.
            let healthyBytes = TestEnvironment.randomBytes(100_000, seed: 63)
            #expect(try await gateway.send(.PUT, "/k/\(healthyToken)/\(healthy)/live.mp3", body: healthyBytes).status == 201)
            let replayed = try await Self.spoolDirectly(gateway, accountId: healthy, key: "\(healthy)/queued.mp3", bytes: healthyBytes)
            #expect(try await eventually { try await queue.upload(replayed)?.state == .stored })

            // The first attempts (both rows may go at once), then paused: after that one row per backoff (a
            // probe), no attempts burnt while the credentials stay wrong. The worker has polled since the pause (it
            // replayed the healthy row queued after it) and left the paused rows alone but for the probes.
            let pause = try #require(try await queue.accountPauses()[broken])
            let paused = try await queue.uploads(accountId: broken)
            #expect(paused.allSatisfy { $0.state != .stored })
            #expect(paused.map(\.attempts).reduce(0, +) <= 2 + pause.probes + 1, "\(paused), \(pause)")
            #expect(paused.contains { $0.lastError?.contains("SignatureDoesNotMatch") ?? false })
            #expect(gateway.log.all.contains { $0.contains("paused (circuit breaker)") })

            // The operator fixes the secret with `accounts update` (another process): the rows drain.
            let config = try Self.writeConfig(for: gateway)
            let update = try await onOwnThread {
                try CommandLineTests.run(
                    ["accounts", "update", broken, "--secret-access-key-stdin", "--config", config],
                    input: try TestServers.environment("RG_MOTO_SECRET_KEY"),
                    environment: [MasterKey.environmentVariable: gateway.masterKey]
                )
            }
            #expect(update.status == 0, "\(update.error)")
            #expect(try await eventually { try await queue.uploads(accountId: broken).allSatisfy { $0.state == .stored } })
            #expect(try await queue.accountPauses()[broken] == nil)
            let moto = try TestServers.moto()
            #expect(try await Self.objectBytes(moto, "\(broken)/a.mp3") == first)
            #expect(try await Self.objectBytes(moto, "\(broken)/b.mp3") == second)
        }
    }

    @Test func aFlippedByteInASpoolFileFailsTheRowAndUploadsNothing() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let id = TestEnvironment.accountId()
            _ = try await gateway.addRcloneAccount(id)
            let key = "\(id)/tampered.mp3"
            let bytes = TestEnvironment.randomBytes(1_000_000, seed: 71)
            let row = try await Self.spoolDirectly(gateway, accountId: id, key: key, bytes: bytes, due: false)
            let entry = try #require(try await gateway.runtime.ledger.upload(row))
            let file = gateway.runtime.ledger.spool.path(entry.spoolFile)
            var raw = try Data(contentsOf: URL(fileURLWithPath: file))
            raw[raw.count / 2] ^= 0x01
            try raw.write(to: URL(fileURLWithPath: file))

            try await gateway.runtime.ledger.retryNow(id: row)
            let failedInTime = try await eventually { try await gateway.runtime.ledger.upload(row)?.state == .failed }
            #expect(failedInTime)
            let failed = try #require(try await gateway.runtime.ledger.upload(row))
            #expect(failed.lastError?.contains("integrity") ?? false, "\(failed)")
            #expect(try await TestServers.rclone().headObject(key: key) == nil)
            // Kept for the operator: only `queue discard` destroys it.
            #expect(FileManager.default.fileExists(atPath: file))
        }
    }

    @Test func aSpoolFileHoldingAnotherObjectIsNeverStoredUnderTheRowsKey() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let id = TestEnvironment.accountId()
            _ = try await gateway.addRcloneAccount(id)
            let queue = gateway.runtime.storage
            let first = try await Self.spoolDirectly(gateway, accountId: id, key: "\(id)/first.mp3", bytes: [1, 2, 3], due: false)
            let second = try await Self.spoolDirectly(gateway, accountId: id, key: "\(id)/second.mp3", bytes: [4, 5, 6], due: false)
            // Swap the two files on disk: each row now points at the other recording.
            var paths: [String] = []
            for row in [first, second] { paths.append(gateway.runtime.ledger.spool.path(try #require(try await queue.upload(row)).spoolFile)) }
            try FileManager.default.moveItem(atPath: paths[0], toPath: paths[0] + ".swap")
            try FileManager.default.moveItem(atPath: paths[1], toPath: paths[0])
            try FileManager.default.moveItem(atPath: paths[0] + ".swap", toPath: paths[1])

            _ = try await queue.retryNow(id: nil, accountId: id, now: Date())
            let bothFailed = try await eventually {
                let states = [try await queue.upload(first)?.state, try await queue.upload(second)?.state]
                return states == [.failed, .failed]
            }
            #expect(bothFailed)
            #expect(try await queue.upload(first)?.lastError?.contains("another object") ?? false)
            let rclone = try TestServers.rclone()
            #expect(try await rclone.headObject(key: "\(id)/first.mp3") == nil)
            #expect(try await rclone.headObject(key: "\(id)/second.mp3") == nil)
        }
    }

    @Test func readyzReportsTheSpoolAndRefusesBelowTheFreeSpaceThreshold() async throws {
        var config = Self.config
        config.spoolMinFreeBytes = Int.max / 2
        try await TestGateway.with(config: config) { gateway in
            let ready = try await gateway.send(.GET, "/readyz")
            #expect(ready.status == 503)
            #expect(ready.text.contains("spool_min_free_bytes"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(ready.body)) as? [String: Any])
            let spool = try #require(object["spool"] as? [String: Any])
            #expect(spool["min_free_bytes"] as? Int == Int.max / 2)
            #expect((spool["free_bytes"] as? Int ?? 0) > 0)
        }
        try await TestGateway.with(config: Self.config) { gateway in
            let ready = try await gateway.send(.GET, "/readyz")
            #expect(ready.status == 200)
        }
    }

    /// Writes a spool file for `key` and queues it, as a store that S3 refused would have.
    static func spoolDirectly(_ gateway: TestGateway, accountId: String, key: String, bytes: [UInt8], due: Bool = true) async throws -> Int64 {
        let header = SpoolFile.Header(accountId: accountId, objectKey: key, requestPath: key, contentType: "audio/mpeg", metadata: [:])
        let writer = try #require(gateway.runtime.ledger.spool.begin(header: header))
        try bytes.withUnsafeBytes { try writer.write($0) }
        let (size, checksum) = try writer.finish(durable: true)
        let now = Date()
        let entry = try await gateway.runtime.storage.enqueue(
            QueuedUpload(
                accountId: accountId,
                objectKey: key,
                requestPath: key,
                spoolFile: (writer.path as NSString).lastPathComponent,
                size: size,
                checksum: checksum,
                nextAttemptAt: due ? now : now.addingTimeInterval(3600),
                lastError: nil,
                createdAt: now,
                updatedAt: now
            ),
            indexing: StoredObject(
                accountId: accountId,
                requestPath: key,
                objectKey: key,
                size: size,
                checksum: checksum,
                etag: nil,
                contentType: "audio/mpeg",
                storedAt: now
            )
        )
        return try #require(entry.id)
    }

    /// A configuration file for the command line on the test gateway's data directory.
    @Test func anAccountAddedFromTheCommandLineStoresAtOnceNotAfterThePoll() async throws {
        try await TestGateway.with(config: Self.config) { gateway in
            let config = try Self.writeConfig(for: gateway)
            let id = TestEnvironment.accountId()
            let added = try await onOwnThread {
                try CommandLineTests.run(
                    [
                        "accounts", "add", "--account-id", id, "--name", "Added a moment ago", "--bucket",
                        try TestServers.environment("RG_RCLONE_BUCKET"),
                        "--host", try TestEnvironment.host(of: "RG_RCLONE_ENDPOINT"), "--scheme", "http", "--path-style",
                        "--access-key-id", try TestServers.environment("RG_RCLONE_ACCESS_KEY"), "--secret-access-key-stdin", "--json",
                        "--config", config,
                    ],
                    input: try TestServers.environment("RG_RCLONE_SECRET_KEY"),
                    environment: [MasterKey.environmentVariable: gateway.masterKey]
                )
            }
            try #require(added.status == 0, "\(added.error)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: Any])
            let token = try #require(object["token"] as? String)
            // At once: the server polls the accounts every second, but an unknown token makes it read them first.
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/first.mp3", body: [1, 2, 3]).status == 201)
            // A token nobody has is still refused, and guessing cannot make the server read the database more
            // than ten times a second.
            #expect(try await gateway.send(.PUT, "/k/rg_\(String(repeating: "B", count: 43))/x.mp3", body: [1]).status == 401)
            var reads = 0
            let first = Int(Date().timeIntervalSince1970)
            for _ in 0..<100 where await gateway.runtime.directory.reloadForUnknownCredentials() { reads += 1 }
            // Ten a second at most, over however many seconds the hundred took (more than one on a busy runner).
            let seconds = Int(Date().timeIntervalSince1970) - first + 1
            #expect(reads <= seconds * AccountDirectory.unknownTokenReloadsPerSecond, "\(reads) reads for 100 unknown tokens in \(seconds) s")
        }
    }

    static func writeConfig(for gateway: TestGateway) throws -> String {
        let path = gateway.runtime.config.dataDir + "/cli-config.json"
        try Data(#"{"data_dir": "\#(gateway.runtime.config.dataDir)", "spool_min_free_bytes": 0}"#.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
