import Foundation
import NIOHTTP1
import TestSupport
import Testing

@testable import Gateway

/// The admin JSON API: accounts (secrets write-only), verify, queue; bad input and wrong tokens change nothing.
struct AdminAPITests {
    static func call(
        _ gateway: TestGateway,
        _ method: HTTPMethod,
        _ path: String,
        _ body: [String: Any]? = nil,
        token: String = AdminListenerTests.adminToken
    ) async throws -> (status: Int, object: [String: Any], text: String) {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let answer = try await gateway.send(
            method,
            "http://127.0.0.1:\(gateway.adminPort)\(path)",
            body: data.map { Array($0) },
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
        )
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]) ?? [:]
        return (answer.status, object, answer.text)
    }

    @Test func accountsAreManagedWithoutEverReturningASecret() async throws {
        try await TestGateway.with(config: AdminListenerTests.config) { gateway in
            let id = TestEnvironment.accountId()
            let secret = try TestServers.environment("RG_MOTO_SECRET_KEY")
            var fields: [String: Any] = [
                "account_id": id, "name": "Acme Dental", "bucket": try TestServers.environment("RG_MOTO_BUCKET"),
                "host": try TestEnvironment.host(of: "RG_MOTO_ENDPOINT"), "scheme": "http", "path_style": true,
                "access_key_id": try TestServers.environment("RG_MOTO_ACCESS_KEY"), "secret_access_key": secret, "sse": "AES256",
            ]
            var texts: [String] = []

            // Bad input, a wrong token: refused, nothing created.
            fields["bucket"] = "Not_A_Bucket"
            let bad = try await Self.call(gateway, .POST, "/api/accounts", fields)
            #expect(bad.status == 400)
            #expect(bad.text.contains("bucket"))
            fields["bucket"] = try TestServers.environment("RG_MOTO_BUCKET")
            let unknown = try await Self.call(gateway, .POST, "/api/accounts", fields.merging(["colour": "blue"]) { $1 })
            #expect(unknown.status == 400 && unknown.text.contains("colour"))
            let wrongToken = try await Self.call(gateway, .POST, "/api/accounts", fields, token: "wrong-token-0123456789")
            #expect(wrongToken.status == 401)
            #expect(try await gateway.runtime.accounts.list().isEmpty)

            let created = try await Self.call(gateway, .POST, "/api/accounts", fields)
            #expect(created.status == 201, "\(created.text)")
            let token = try #require(created.object["token"] as? String)
            #expect((created.object["storage_url"] as? String)?.hasSuffix(token) ?? false)
            #expect(created.object["storage_document"] is [String: Any])
            texts.append(created.text)
            #expect(try await Self.call(gateway, .POST, "/api/accounts", fields).status == 409)

            // The new account stores at once.
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/api.mp3", body: [1, 2, 3]).status == 201)

            let listed = try await Self.call(gateway, .GET, "/api/accounts")
            #expect((listed.object["accounts"] as? [[String: Any]])?.first?["account_id"] as? String == id)
            texts.append(listed.text)
            let shown = try await Self.call(gateway, .GET, "/api/accounts/\(id)")
            #expect(shown.object["name"] as? String == "Acme Dental")
            texts.append(shown.text)
            let patched = try await Self.call(gateway, .PATCH, "/api/accounts/\(id)", ["name": "Acme Dental East", "secret_access_key": secret])
            #expect(patched.status == 200)
            #expect(patched.object["name"] as? String == "Acme Dental East")
            texts.append(patched.text)
            #expect(try await Self.call(gateway, .PATCH, "/api/accounts/\(id)", ["presign_expiry_seconds": 0]).status == 400)
            #expect(try await gateway.runtime.accounts.find(id).presignExpirySeconds == nil, "a refused update changed nothing")

            let verified = try await Self.call(gateway, .POST, "/api/accounts/\(id)/verify")
            #expect(verified.object["passed"] as? Bool == true, "\(verified.text)")
            #expect((verified.object["lines"] as? [[String: Any]])?.count == 7)
            texts.append(verified.text)

            let queue = try await Self.call(gateway, .GET, "/api/queue?state=pending")
            #expect(queue.status == 200)
            #expect((queue.object["uploads"] as? [Any])?.isEmpty ?? false)
            #expect(try await Self.call(gateway, .GET, "/api/queue?state=nonsense").status == 400)
            let retried = try await Self.call(gateway, .POST, "/api/queue/retry", ["account_id": id])
            #expect(retried.object["due_now"] as? Int == 0)
            #expect(try await Self.call(gateway, .POST, "/api/queue/retry", [:]).status == 400)

            for text in texts { #expect(!text.contains(secret), "a secret came back") }

            #expect(try await Self.call(gateway, .DELETE, "/api/accounts/\(id)").status == 200)
            #expect(try await Self.call(gateway, .GET, "/api/accounts/\(id)").status == 404)
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(id)/api.mp3", body: [1]).status == 401)
        }
    }

    @Test func thePagesEndpointsSummariesPoliciesNewTokenAndQueueLimit() async throws {
        try await TestGateway.with(config: AdminListenerTests.config) { gateway in
            let id = TestEnvironment.accountId()
            let oldToken = try await gateway.addRcloneAccount(id)
            let down = TestEnvironment.accountId()
            let downToken = try await gateway.addUnreachableAccount(down)
            #expect(try await gateway.send(.PUT, "/k/\(oldToken)/\(id)/a.mp3", body: [1]).status == 201)
            for name in ["b", "c"] {
                #expect(try await gateway.send(.PUT, "/k/\(downToken)/\(down)/\(name).mp3", body: [2]).status == 202)
            }

            // Each account with when it last stored and its uploads waiting by state.
            let listed = try await Self.call(gateway, .GET, "/api/accounts")
            let accounts = try #require(listed.object["accounts"] as? [[String: Any]])
            let live = try #require(accounts.first { $0["account_id"] as? String == id })
            let queued = try #require(accounts.first { $0["account_id"] as? String == down })
            let lastStore = try #require(live["last_store_at"] as? String)
            #expect(abs((ISO8601DateFormatter().date(from: lastStore) ?? .distantPast).timeIntervalSinceNow) < 60)
            #expect(live["queue"] as? [String: Int] == ["pending": 0, "uploading": 0, "failed": 0])
            #expect(queued["queue"] as? [String: Int] == ["pending": 2, "uploading": 0, "failed": 0])
            #expect(
                try await Self.call(gateway, .GET, "/api/accounts/\(down)").object["queue"] as? [String: Int] == queued["queue"] as? [String: Int]
            )

            // The queue, at most `limit` rows (1,000 unless asked, never more than 10,000); `more`: rows left out.
            let first = try await Self.call(gateway, .GET, "/api/queue?state=pending&limit=1")
            #expect((first.object["uploads"] as? [Any])?.count == 1 && first.object["more"] as? Bool == true)
            let both = try await Self.call(gateway, .GET, "/api/queue?state=pending&limit=2")
            #expect((both.object["uploads"] as? [Any])?.count == 2 && both.object["more"] as? Bool == false)
            let unasked = try await Self.call(gateway, .GET, "/api/queue")
            #expect((unasked.object["uploads"] as? [Any])?.count == 2 && unasked.object["more"] as? Bool == false)
            for limit in ["0", "10001", "-1", "many"] {
                let refused = try await Self.call(gateway, .GET, "/api/queue?limit=\(limit)")
                #expect(refused.status == 400 && refused.text.contains("from 1 to 10000"), "\(limit): \(refused.text)")
            }

            // The policies for a bucket, as `policy --json` prints them; a bad bucket or ARN names its field.
            let arn = "arn:aws:iam::123456789012:user/acme-recordings"
            let policies = try await Self.call(gateway, .GET, "/api/policies?bucket=acme-recordings&user_arn=\(arn)&require_tls=true")
            #expect(policies.status == 200)
            #expect(policies.object["user_policy"] != nil && policies.object["lifecycle_configuration"] != nil)
            #expect(policies.text.contains(arn) && policies.text.contains("aws:SecureTransport"))
            let badBucket = try await Self.call(gateway, .GET, "/api/policies?bucket=Bad_Bucket")
            #expect(badBucket.status == 400 && badBucket.text.contains("bucket"))
            let badArn = try await Self.call(gateway, .GET, "/api/policies?bucket=acme-recordings&user_arn=arn:aws:iam::1:root")
            #expect(badArn.status == 400 && badArn.text.contains("user_arn"))

            // A new storage URL: the old token stops working at once, the new one stores.
            let issued = try await Self.call(gateway, .POST, "/api/accounts/\(id)/token")
            #expect(issued.status == 200)
            let newToken = try #require(issued.object["token"] as? String)
            #expect((issued.object["storage_url"] as? String)?.hasSuffix("/k/\(newToken)") == true)
            #expect(issued.object["storage_document"] != nil)
            #expect(try await gateway.send(.PUT, "/k/\(oldToken)/\(id)/d.mp3", body: [3]).status == 401)
            #expect(try await gateway.send(.PUT, "/k/\(newToken)/\(id)/d.mp3", body: [3]).status == 201)
            #expect(try await Self.call(gateway, .POST, "/api/accounts/\(TestEnvironment.accountId())/token").status == 404)
            #expect(try await Self.call(gateway, .POST, "/api/accounts/\(id)/token", token: "wrong-token-0123456789").status == 401)
        }
    }

    @Test func thePageIsServedWithoutATokenUnderAStrictContentSecurityPolicy() async throws {
        try await TestGateway.with(config: AdminListenerTests.config) { gateway in
            let base = "http://127.0.0.1:\(gateway.adminPort)"
            for (path, type) in [("/", "text/html"), ("/admin.js", "text/javascript"), ("/admin.css", "text/css")] {
                let answer = try await gateway.send(.GET, base + path)
                #expect(answer.status == 200)
                #expect(answer.header("content-type")?.hasPrefix(type) == true)
                #expect(answer.header("content-security-policy")?.contains("script-src 'self'") == true)
                #expect(answer.header("x-content-type-options") == "nosniff")
                #expect(!answer.body.isEmpty)
            }
            let page = try await gateway.send(.GET, base + "/")
            #expect(
                page.text.contains("Add AWS account") && !page.text.contains("<script>") && !page.text.contains("http://")
                    && !page.text.contains("https://")
            )
            // Not on the KAZOO-facing port.
            #expect(try await gateway.send(.GET, "/admin.js").status != 200)
        }
    }
}
