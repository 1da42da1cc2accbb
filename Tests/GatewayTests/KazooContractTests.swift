import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import S3
import TestSupport
import Testing

/// Every case of ../shared/KAZOO.md, against the real server in this process and real S3 servers:
/// moto (IAM enforced, the least-privilege policy) and rclone serve s3 (checks presigned URLs).
@Suite(.serialized)
struct KazooContractTests {
    static func kazooPath(account: String) -> String {
        "\(account)/4a9b2c3d4e5f60718293a4b5c6d7e8f9/202611-\(TestEnvironment.accountId())/\(TestEnvironment.accountId()).mp3"
    }

    @Test func defaultFieldListStoreThenDoubledGetWithMetadataQuery() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let path = Self.kazooPath(account: account)
            let recording = TestEnvironment.randomBytes(300_000, seed: 1)

            let stored = try await gateway.send(.PUT, "/k/\(token)/\(path)", body: recording, headers: [("Content-Type", "audio/mpeg")])
            #expect(stored.status == 201, "\(stored.text)")

            // KAZOO's fetch: the stored URL, the segment again, and the document's metadata as a query.
            let fetch = try await gateway.send(.GET, "/k/\(token)/\(path)/\(path)?call_id=abc&media_type=mp3&rev[1]=x&tags[]=a")
            #expect(fetch.status == 302)
            let location = try #require(fetch.header("location"))
            let components = try #require(URLComponents(string: location))
            #expect(components.path == "/rg-recordings/\(path)")
            let query = Dictionary(uniqueKeysWithValues: (components.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            #expect(query["response-content-type"] == "audio/mpeg")
            #expect(query["X-Amz-Expires"] == "300")
            #expect(query["X-Amz-Credential"]?.hasPrefix(try TestServers.environment("RG_MOTO_ACCESS_KEY")) == true)
            #expect(fetch.header("cache-control") == "no-store")

            // moto cannot serve presigned URLs with auth on: read the object back with the account's own key.
            let object = try #require(try await TestServers.moto().getObject(key: path))
            #expect(Array(try await object.body.collect(upTo: 1 << 20).readableBytesView) == recording)
            let info = try #require(try await TestServers.moto().headObject(key: path))
            #expect(info.contentType == "audio/mpeg")
            #expect(info.serverSideEncryption == "AES256")
        }
    }

    @Test func recordCallURLKeepsItsQueryAsMetadata() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let name = "call_recording_\(TestEnvironment.accountId()).mp3"
            let query =
                "from=1001%40acme.example.com&to=%2B14155550100%40acme.example.com&caller_id_name=Zo%C3%AB+Smith&caller_id_number=%2B14155550100&call_id=c-42&cdr_id=cdr-1&interaction_id=i-1&owner_id=o-1&account_id=\(account)&start=63900000000&duration_ms=61000&recording_id=r-1"
            let stored = try await gateway.send(
                .PUT,
                "/k/\(token)/\(name)?\(query)",
                body: Array("ID3 audio".utf8),
                headers: [("Content-Type", "audio/mpeg")]
            )
            #expect(stored.status == 201, "\(stored.text)")
            let info = try #require(try await TestServers.moto().headObject(key: name))
            let metadata = info.metadata.mapValues(S3Metadata.decodeValue)
            #expect(metadata["call-id"] == "c-42")
            #expect(metadata["caller-id-name"] == "Zoë Smith")
            #expect(metadata["to"] == "+14155550100@acme.example.com")
            #expect(metadata["duration-ms"] == "61000")
            #expect(metadata["account-id"] == account)
            #expect(metadata["recording-id"] == "r-1")
        }
    }

    static func multipartBody(boundary: String, json: String, file: [UInt8], base64: Bool) -> [UInt8] {
        var body = Array("\r\n--\(boundary)\r\ncontent-disposition: form-data; name=202611-abc\r\ncontent-type: application/json\r\n\r\n\(json)".utf8)
        body += Array("\r\n--\(boundary)\r\ncontent-disposition: form-data; name=rec.wav\r\ncontent-type: audio/wav\r\n\r\n".utf8)
        body += base64 ? Array(Data(file).base64EncodedString().utf8) : file
        body += Array("\r\n--\(boundary)--".utf8)
        return body
    }

    @Test(arguments: [false, true])
    func multipartBodiesStoreTheFilePartWithTheJSONAsMetadata(base64: Bool) async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let path = Self.kazooPath(account: account)
            let file = Array("RIFF".utf8) + TestEnvironment.randomBytes(6 * 1024 * 1024 + 3, seed: base64 ? 2 : 3)
            let boundary = String(repeating: "Zq9_-", count: 12) + "abcd"  // 64 base64url characters, as KAZOO makes them
            let json = #"{"id": "202611-abc", "call_id": "c-7", "caller_id_name": "Ann", "duration_ms": 1200, "pvt_type": "call_recording"}"#
            let body = Self.multipartBody(boundary: boundary, json: json, file: file, base64: base64)
            let stored = try await gateway.send(
                .PUT,
                "/k/\(token)/\(path)",
                body: body,
                headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")]
            )
            #expect(stored.status == 201, "\(stored.text)")
            let object = try #require(try await TestServers.moto().getObject(key: path))
            #expect(object.info.contentType == "audio/wav")
            #expect(Array(try await object.body.collect(upTo: 64 << 20).readableBytesView) == file)
            #expect(object.info.metadata["call-id"] == "c-7")
            #expect(object.info.metadata["caller-id-name"] == "Ann")
            #expect(object.info.metadata["duration-ms"] == "1200")
            #expect(object.info.metadata["pvt-type"] == nil)
        }
    }

    @Test func postStoresLikePutAndHeadDescribesTheObject() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let path = Self.kazooPath(account: account)
            let bytes = TestEnvironment.randomBytes(12345, seed: 4)
            let stored = try await gateway.send(.POST, "/k/\(token)/\(path)", body: bytes, headers: [("Content-Type", "audio/mpeg")])
            #expect(stored.status == 201)
            let head = try await gateway.send(.HEAD, "/k/\(token)/\(path)/\(path)?call_id=x")
            #expect(head.status == 200)
            #expect(head.header("content-length") == "12345")
            #expect(head.header("content-type") == "audio/mpeg")
            let missing = try await gateway.send(.HEAD, "/k/\(token)/\(account)/no/such/thing.mp3")
            #expect(missing.status == 404)
        }
    }

    @Test func storageValidationRoundTripAndRedirectOnRclone() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            // KAZOO: PUT <random>_test_credentials_file.txt, then GET it back and require the exact bytes.
            let random = TestEnvironment.accountId()
            let name = "\(random)_test_credentials_file.txt"
            let content = Array("some random content: \(TestEnvironment.accountId())".utf8)
            let stored = try await gateway.send(.PUT, "/k/\(token)/\(name)", body: content, headers: [("Content-Type", "text/plain")])
            #expect(stored.status == 201, "\(stored.text)")
            let redirect = try await gateway.send(.GET, "/k/\(token)/\(name)/\(name)")
            #expect(redirect.status == 302)
            let fetched = try await gateway.follow(redirect)
            #expect(fetched.status == 200)
            #expect(fetched.body == content)
            #expect(fetched.header("content-type") == "text/plain")

            // A big recording, redirected and verified by rclone's presigned-URL check.
            let path = Self.kazooPath(account: account)
            let recording = TestEnvironment.randomBytes(9 * 1024 * 1024 + 5, seed: 5)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(path)", body: recording, headers: [("Content-Type", "audio/mpeg")]).status == 201)
            let big = try await gateway.follow(try await gateway.send(.GET, "/k/\(token)/\(path)/\(path)?x=1"))
            #expect(big.status == 200)
            #expect(big.body == recording)
        }
    }

    @Test func authorizationHeaderOrProxyModeStreamsTheBytes() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let path = Self.kazooPath(account: account)
            let bytes = TestEnvironment.randomBytes(2 * 1024 * 1024, seed: 6)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(path)", body: bytes, headers: [("Content-Type", "audio/mpeg")]).status == 201)
            // httpc turns user:pass@ into Basic and would forward it to the redirect target: proxy instead.
            let basic = "Basic " + Data("user:pass".utf8).base64EncodedString()
            let proxied = try await gateway.send(.GET, "/k/\(token)/\(path)/\(path)?call_id=1", headers: [("Authorization", basic)])
            #expect(proxied.status == 200)
            #expect(proxied.body == bytes)
            #expect(proxied.header("content-type") == "audio/mpeg")
            #expect(proxied.header("content-length") == "\(bytes.count)")
            let missing = try await gateway.send(.GET, "/k/\(token)/\(account)/missing.mp3", headers: [("Authorization", basic)])
            #expect(missing.status == 404)

            let proxyAccount = TestEnvironment.accountId()
            let proxyToken = try await gateway.addRcloneAccount(proxyAccount) { $0.downloadMode = .proxy }
            let other = Self.kazooPath(account: proxyAccount)
            #expect(try await gateway.send(.PUT, "/k/\(proxyToken)/\(other)", body: bytes).status == 201)
            let direct = try await gateway.send(.GET, "/k/\(proxyToken)/\(other)/\(other)")
            #expect(direct.status == 200)
            #expect(direct.body == bytes)
        }
    }

    @Test func chunkedBodiesAndBasicCredentialsWork() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addMotoAccount(account)
            let path = Self.kazooPath(account: account)
            let length = 20 * 1024 * 1024 + 11
            var request = HTTPClientRequest(url: gateway.base + "/k/\(token)/\(path)")
            request.method = .PUT
            request.headers.add(name: "Content-Type", value: "audio/mpeg")
            request.body = .stream(GeneratedBody(length: length, seed: 7), length: .unknown)
            let answer = try await TestGateway.collect(try await gateway.http.execute(request, timeout: .seconds(120)))
            #expect(answer.status == 201, "\(answer.text)")
            let object = try #require(try await TestServers.moto().getObject(key: path))
            let compared = try await GeneratedBody.compare(object.body, length: length, seed: 7, partSize: 8 * 1024 * 1024)
            #expect(compared.bytes == length)
            #expect(compared.firstMismatch == nil)

            // Basic credentials (account id, token) for clients that cannot put the token in the path.
            let basic = "Basic " + Data("\(account):\(token)".utf8).base64EncodedString()
            let viaBasic = try await gateway.send(.PUT, "/k/\(account)/basic.mp3", body: [1, 2, 3], headers: [("Authorization", basic)])
            #expect(viaBasic.status == 201, "\(viaBasic.text)")
            #expect(try await TestServers.moto().headObject(key: "\(account)/basic.mp3")?.size == 3)
            let wrongBasic = "Basic " + Data("\(account):rg_nottherighttoken".utf8).base64EncodedString()
            #expect(try await gateway.send(.PUT, "/k/\(account)/basic.mp3", body: [1], headers: [("Authorization", wrongBasic)]).status == 401)
        }
    }
}

/// The event-loop redirect (`FastRedirectHandler`) answers like the route.
@Suite(.serialized)
struct FastRedirectTests {
    @Test func fastAndRouteRedirectsAgree() async throws {
        try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            let path = KazooContractTests.kazooPath(account: account)
            let bytes = TestEnvironment.randomBytes(70_000, seed: 13)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(path)", body: bytes, headers: [("Content-Type", "audio/wav")]).status == 201)
            let fetch = "/k/\(token)/\(path)/\(path)?call_id=1"
            // Remembered after the store: answered on the event loop.
            let fast = try await gateway.send(.GET, fetch)
            // `Connection: close` is left to the route.
            let routed = try await gateway.send(.GET, fetch, headers: [("Connection", "close")])
            for answer in [fast, routed] {
                #expect(answer.status == 302)
                #expect(answer.header("cache-control") == "no-store")
                let location = try #require(answer.header("location"))
                #expect(location.contains("/rg-rclone/\(path)?response-content-type=audio%2Fwav&X-Amz-Algorithm=AWS4-HMAC-SHA256"))
                #expect(try await gateway.follow(answer).body == bytes)
            }

        }
    }
}
