import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3
import Spool
import Synchronization
import TestSupport
import Testing

@testable import Gateway

/// Two real `serve` processes on one PostgreSQL, each with its own data directory and spool, behind nginx
/// (round robin); S3 is `rclone serve s3` behind a TCP proxy that logs what S3 is asked and that a test can
/// cut off.
@Suite(.serialized)
struct MultiNodeTests {
    static let adminToken = "cluster-admin-token-0123456789"

    final class Cluster: @unchecked Sendable {
        struct Node {
            let id: String
            let port = BackgroundProcess.freePort()
            let adminPort = BackgroundProcess.freePort()
            let config: String
            let dataDir: String
        }

        let directory = NSTemporaryDirectory() + "rg-cluster-\(UUID().uuidString)"
        let databaseURL: String
        var nodes: [Node] = []
        var processes: [String: BackgroundProcess] = [:]
        let s3Port = BackgroundProcess.freePort()
        let rclonePort: Int
        var s3: BackgroundProcess?
        var nginx: Nginx?
        var requestLog: String { directory + "/s3-requests.log" }

        init(databaseURL: String) throws {
            self.databaseURL = databaseURL
            rclonePort = try #require(URL(string: try TestServers.environment("RG_RCLONE_ENDPOINT"))?.port)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data((MasterKey.generateEncoded() + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/master.key"))
            for id in ["node-a", "node-b"] {
                let dataDir = directory + "/" + id
                let node = Node(id: id, config: directory + "/\(id).json", dataDir: dataDir)
                let json = """
                    {"listen": "127.0.0.1:\(node.port)", "admin_listen": "127.0.0.1:\(node.adminPort)", "data_dir": "\(dataDir)",
                     "public_base_url": "http://recordings.example.com", "database_url": "\(databaseURL)", "node_id": "\(id)",
                     "master_key_file": "\(directory)/master.key", "admin_token": "\(MultiNodeTests.adminToken)", "spool_min_free_bytes": 0,
                     "replay_base_delay_seconds": 0.5, "replay_max_delay_seconds": 2, "s3_retry_max_attempts": 2,
                     "s3_retry_base_delay_ms": 10, "s3_retry_max_delay_ms": 50, "shutdown_drain_seconds": 2}
                    """
                try Data(json.utf8).write(to: URL(fileURLWithPath: node.config))
                nodes.append(node)
            }
            try restoreS3()
            for node in nodes { try start(node.id) }
            nginx = try Nginx(upstreams: nodes.map(\.port))
        }

        deinit {
            nginx = nil
            for process in processes.values { _ = process.stop(signal: SIGKILL) }
            _ = s3?.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }

        func node(_ id: String) throws -> Node { try #require(nodes.first { $0.id == id }) }

        func start(_ id: String) throws {
            let node = try node(id)
            let process = try BackgroundProcess(CommandLineTests.binary, ["serve", "--config", node.config])
            guard BackgroundProcess.waitForPort(node.port) else { throw TestServerMissing(description: "\(id) did not start: \(process.output)") }
            processes[id] = process
        }

        /// Kills a node with SIGKILL (a crash): nothing is flushed, nothing drained.
        func kill(_ id: String) {
            _ = processes.removeValue(forKey: id)?.stop(signal: SIGKILL)
        }

        func output(_ id: String) -> String { processes[id]?.output ?? "" }

        func cutS3() {
            _ = s3?.stop()
            s3 = nil
        }

        func restoreS3() throws {
            let proxy = try BackgroundProcess(
                "python3",
                [TestServers.script("throttle-proxy.py"), "\(s3Port)", "\(rclonePort)", "0", requestLog]
            )
            s3 = proxy
            try #require(BackgroundProcess.waitForPort(s3Port))
        }

        /// PUT requests S3 was sent for `key` (PutObject, or the parts of a multipart upload).
        func puts(of key: String) throws -> Int {
            let log = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
            return log.split(separator: "\n").count { $0.hasPrefix("PUT /") && $0.contains("/" + key) && !$0.contains("partNumber=") }
        }

        var nginxURL: String { "http://127.0.0.1:\(nginx?.port ?? 0)" }

        func adminURL(_ id: String, _ path: String) throws -> String { "http://127.0.0.1:\(try node(id).adminPort)/api/\(path)" }

        /// Adds an account on rclone (behind the proxy) through node `id`'s admin API; its token.
        func addAccount(through id: String, accountId: String, downloadMode: String = "redirect") async throws -> String {
            let body: [String: Any] = [
                "account_id": accountId, "name": "Clinic \(accountId.prefix(6))", "bucket": try TestServers.environment("RG_RCLONE_BUCKET"),
                "host": "127.0.0.1:\(s3Port)", "scheme": "http", "path_style": true,
                "access_key_id": try TestServers.environment("RG_RCLONE_ACCESS_KEY"),
                "secret_access_key": try TestServers.environment("RG_RCLONE_SECRET_KEY"), "download_mode": downloadMode,
            ]
            var request = HTTPClientRequest(url: try adminURL(id, "accounts"))
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(MultiNodeTests.adminToken)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            let response = try await TestServers.http.execute(request, timeout: .seconds(30))
            let answer = try await response.body.collect(upTo: 1 << 20)
            try #require(response.status.code == 201, "\(String(buffer: answer))")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(buffer: answer)) as? [String: Any])
            return try #require(object["token"] as? String)
        }
    }

    static func send(
        _ method: HTTPMethod,
        _ url: String,
        body: [UInt8]? = nil
    ) async throws -> (status: Int, headers: [String: String], body: [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await TestServers.http.execute(request, timeout: .seconds(60))
        let answer = try await response.body.collect(upTo: 64 << 20)
        var headers: [String: String] = [:]
        for header in response.headers { headers[header.name.lowercased()] = header.value }
        return (Int(response.status.code), headers, Array(buffer: answer))
    }

    static func path(_ accountId: String, _ name: String) -> String {
        "\(accountId)/4a9b2c3d4e5f60718293a4b5c6d7e8f9/202612-\(name)/\(name).mp3"
    }

    @Test func anAccountAddedOnOneNodeStoresThroughTheOtherAtOnceAndEveryNodeFetchesEveryRecording() async throws {
        let cluster = try Cluster(databaseURL: try TestPostgres.freshDatabaseURL())
        let (a, b) = (try cluster.node("node-a"), try cluster.node("node-b"))
        let accountId = TestEnvironment.accountId()
        let token = try await cluster.addAccount(through: "node-a", accountId: accountId)
        // Node B has never seen the account: its first store comes right after the admin API's answer.
        let recording = TestEnvironment.randomBytes(6 * 1024 * 1024 + 3, seed: 1301)
        let path = Self.path(accountId, "through-b")
        let stored = try await Self.send(.PUT, "http://127.0.0.1:\(b.port)/k/\(token)/\(path)", body: recording)
        #expect(stored.status == 201, "\(String(decoding: stored.body, as: UTF8.self))")

        // Through node A, KAZOO's doubled GET path with its metadata query: a redirect to S3 with the bytes.
        let doubled = "http://127.0.0.1:\(a.port)/k/\(token)/\(path)/\(path)?call_id=c1&media_type=mp3"
        let redirect = try await Self.send(.GET, doubled)
        #expect(redirect.status == 302)
        let location = try #require(redirect.headers["location"])
        #expect(try await Self.send(.GET, location).body == recording)
        // The account switched to proxied downloads on node B: node A streams the bytes itself.
        var update = HTTPClientRequest(url: try cluster.adminURL("node-b", "accounts/\(accountId)"))
        update.method = .PATCH
        update.headers.add(name: "Authorization", value: "Bearer \(MultiNodeTests.adminToken)")
        update.headers.add(name: "Content-Type", value: "application/json")
        update.body = .bytes(ByteBuffer(string: #"{"download_mode": "proxy"}"#))
        let updated = try await TestServers.http.execute(update, timeout: .seconds(30))
        _ = try await updated.body.collect(upTo: 1 << 20)
        #expect(updated.status.code == 200)
        #expect(
            try await eventually(10) {
                let proxied = try await Self.send(.GET, doubled)
                return proxied.status == 200 && proxied.body == recording
            },
            "node A proxies once node B's change reached it"
        )

        // KAZOO's storage validation, through nginx, driven by Erlang's httpc as KAZOO drives it.
        let random = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let test = "\(cluster.nginxURL)/k/\(token)/\(accountId)/\(random)_test_credentials_file.txt"
        let program = """
            inets:start(),
            Body = <<"some random content: \(random)">>,
            {ok, {{_, PutStatus, _}, _, _}} = httpc:request(put, {"\(test)", [], "text/plain", Body}, [], []),
            {ok, {{_, GetStatus, _}, _, GetBody}} = httpc:request(get, {"\(test)", []}, [], [{body_format, binary}]),
            io:format("put=~p get=~p same=~p~n", [PutStatus, GetStatus, GetBody =:= Body]),
            halt().
            """
        let run = try await onOwnThread { try ChildProcess.run("erl", ["-noshell", "-eval", program]) }
        #expect(run.output.contains("put=201 get=200 same=true"), "\(run.output)\(run.error)")
    }

    @Test func anOutageAcrossBothNodesACrashAndADeadNodeLoseNothingAndReplayEachRecordingOnce() async throws {
        let cluster = try Cluster(databaseURL: try TestPostgres.freshDatabaseURL())
        let accountId = TestEnvironment.accountId()
        let token = try await cluster.addAccount(through: "node-b", accountId: accountId)
        cluster.cutS3()
        var stores: [(url: String, body: ByteBuffer)] = []
        for index in 0..<50 {
            var body = ByteBuffer(bytes: TestEnvironment.randomBytes(200_000 + index, seed: UInt64(1400 + index)))
            body.setString("recording \(index)", at: 0)
            stores.append(("\(cluster.nginxURL)/k/\(token)/\(Self.path(accountId, "outage-\(index)"))", body))
        }
        let spooled = try await StoreLoad(concurrency: 8).put(stores)
        #expect(spooled.statuses.allSatisfy { $0 == 202 }, "\(spooled.statuses)")
        let queue = try await PostgresDatabase.open(url: DatabaseURL(cluster.databaseURL), nodeId: "observer", logger: .init(label: "test"))
        let rows = try await queue.uploads(state: nil, accountId: accountId)
        #expect(rows.count == 50)
        #expect(Set(rows.compactMap(\.nodeId)) == ["node-a", "node-b"], "both nodes spooled (round robin)")
        // A recording in node B's spool: node B plays it from there; node A cannot yet, and says when to ask again.
        let inB = try #require(rows.first { $0.nodeId == "node-b" })
        let index = try #require(stores.firstIndex { $0.url.hasSuffix(inB.requestPath) })
        let (a, b) = (try cluster.node("node-a"), try cluster.node("node-b"))
        let fromB = try await Self.send(.GET, "http://127.0.0.1:\(b.port)/k/\(token)/\(inB.requestPath)")
        #expect(fromB.status == 200 && fromB.body == Array(buffer: stores[index].body))
        let fromA = try await Self.send(.GET, "http://127.0.0.1:\(a.port)/k/\(token)/\(inB.requestPath)/\(inB.requestPath)?call_id=c")
        #expect(fromA.status == 503 && fromA.headers["retry-after"] == "10", "\(fromA.status) \(String(decoding: fromA.body, as: UTF8.self))")
        // The operator sees each row's node from any node.
        let listed = try await onOwnThread { try CommandLineTests.run(["queue", "list", "--config", a.config]) }
        #expect(listed.output.contains("node node-a") && listed.output.contains("node node-b"), "\(listed.output)\(listed.error)")

        // Node A dies (SIGKILL) and comes back. Node B dies for good: the operator moves its spool files to node A and
        // node A adopts them. S3 comes back.
        cluster.kill("node-a")
        try cluster.start("node-a")
        // Restarted, node A recovers its own rows only: node B's recording is still not its to serve.
        let afterRestart = try await Self.send(.GET, "http://127.0.0.1:\(a.port)/k/\(token)/\(inB.requestPath)")
        #expect(afterRestart.status == 503, "\(afterRestart.status)")
        cluster.kill("node-b")
        let moved = Spool.spoolFiles(in: b.dataDir + "/spool")
        #expect(moved.count == rows.count { $0.nodeId == "node-b" })
        for file in moved { try FileManager.default.moveItem(atPath: b.dataDir + "/spool/" + file, toPath: a.dataDir + "/spool/" + file) }
        let adopted = try await onOwnThread { try CommandLineTests.run(["queue", "adopt", "--from-node", "node-b", "--config", a.config]) }
        #expect(
            adopted.status == 0 && adopted.output.contains("\(moved.count) queued uploads of node node-b now this node's"),
            "\(adopted.output)\(adopted.error)"
        )
        try cluster.restoreS3()
        let landed = try await eventually(120) { try await queue.uploads(state: nil, accountId: accountId).allSatisfy { $0.state == .stored } }
        let left = try await queue.uploads(state: nil, accountId: accountId).filter { $0.state != .stored }
        // What node A said (its replays, or why it stopped) goes with a failure: its log goes with the process.
        #expect(landed, "\(left)\nnode A's last words:\n\(cluster.output("node-a").suffix(4000))")
        let rclone = try TestServers.rclone()
        var wrong: [String] = []
        var twice: [String] = []
        for (index, store) in stores.enumerated() {
            let key = Self.path(accountId, "outage-\(index)")
            if try await rclone.getObject(key: key)?.body.collect(upTo: 1 << 20) != store.body { wrong.append(key) }
            if try cluster.puts(of: key) != 1 { twice.append(key) }
        }
        #expect(wrong.isEmpty, "not in S3 byte for byte: \(wrong.prefix(3))")
        #expect(twice.isEmpty, "uploaded other than once: \(twice.prefix(3))")
        // Once replayed, node A answers it from S3.
        let replayed = try await Self.send(.GET, "http://127.0.0.1:\(a.port)/k/\(token)/\(inB.requestPath)/\(inB.requestPath)?call_id=c")
        #expect(replayed.status == 302)
        await queue.close()
    }

    @Test func theDatabaseStoppedAndRestartedLosesNothingAnswersClearlyAndBothNodesRecoverWithoutARestart() async throws {
        let postgres = try PrivatePostgres()
        try postgres.sql("CREATE DATABASE cluster")
        let cluster = try Cluster(databaseURL: postgres.url(database: "cluster"))
        let (a, b) = (try cluster.node("node-a"), try cluster.node("node-b"))
        let accountId = TestEnvironment.accountId()
        let token = try await cluster.addAccount(through: "node-a", accountId: accountId)
        let known = TestEnvironment.randomBytes(100_000, seed: 1501)
        let knownPath = Self.path(accountId, "before")
        #expect(try await Self.send(.PUT, "http://127.0.0.1:\(a.port)/k/\(token)/\(knownPath)", body: known).status == 201)
        for node in [a, b] { #expect(try await Self.send(.GET, "http://127.0.0.1:\(node.port)/k/\(token)/\(knownPath)").status == 302) }

        postgres.stop()
        for node in [a, b] {
            let ready = try await Self.send(.GET, "http://127.0.0.1:\(node.port)/readyz")
            #expect(ready.status == 503)
            #expect(String(decoding: ready.body, as: UTF8.self).contains("database"), "\(String(decoding: ready.body, as: UTF8.self))")
            // A recording the node knows is still served.
            #expect(try await Self.send(.GET, "http://127.0.0.1:\(node.port)/k/\(token)/\(knownPath)").status == 302)
        }
        // S3 takes the recording: it is safe there, so the store is acknowledged (its index row waits for the database).
        let whileDown = TestEnvironment.randomBytes(100_000, seed: 1502)
        let downPath = Self.path(accountId, "while-down")
        let stored = try await Self.send(.PUT, "\(cluster.nginxURL)/k/\(token)/\(downPath)", body: whileDown)
        #expect(stored.status == 201, "\(String(decoding: stored.body, as: UTF8.self))")
        // S3 down as well: nothing can make the recording safe (no queue row), so it is refused, clearly.
        cluster.cutS3()
        let refused = try await Self.send(.PUT, "\(cluster.nginxURL)/k/\(token)/\(Self.path(accountId, "refused"))", body: [1, 2, 3])
        #expect(refused.status == 503, "\(refused.status) \(String(decoding: refused.body, as: UTF8.self))")
        #expect(refused.headers["retry-after"] != nil)
        try cluster.restoreS3()

        // The database comes back: both nodes recover by themselves.
        try postgres.start()
        for node in [a, b] {
            #expect(
                try await eventually(60) { try await Self.send(.GET, "http://127.0.0.1:\(node.port)/readyz").status == 200 },
                "\(node.id) ready again"
            )
        }
        // Account changes reach the other node again (its notifications came back), and stores work everywhere.
        let second = TestEnvironment.accountId()
        let secondToken = try await cluster.addAccount(through: "node-b", accountId: second)
        for node in [a, b] {
            let path = Self.path(second, "after-\(node.id)")
            #expect(try await Self.send(.PUT, "http://127.0.0.1:\(node.port)/k/\(secondToken)/\(path)", body: [4, 5, 6]).status == 201)
        }
        let rclone = try TestServers.rclone()
        #expect(try await rclone.getObject(key: downPath)?.body.collect(upTo: 1 << 20) == ByteBuffer(bytes: whileDown))
        #expect(!cluster.output("node-a").contains("Fatal") && !cluster.output("node-b").contains("Fatal"))
    }
}
