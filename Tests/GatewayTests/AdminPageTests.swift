import Foundation
import TestSupport
import Testing

@testable import Gateway

/// The admin page in a real browser (Debian's headless chromium, driven over the DevTools protocol by
/// scripts/admin-page-check.py): an operator signs in, adds an account through the form, tests two
/// accounts' connections, opens the policies, retries a queued upload; no script error, no secret.
struct AdminPageTests {
    @Test func anOperatorAddsAnAccountTestsConnectionsAndRetriesTheQueueInARealBrowser() async throws {
        try await TestGateway.with(config: AdminListenerTests.config) { gateway in
            let failing = TestEnvironment.accountId()
            let failingToken = try await gateway.addUnreachableAccount(failing)
            // Its replays are paused (the circuit breaker) before its store is queued, so no replay of it is under way
            // while the page lists the queue; changing the account on the page resumes them.
            #expect(
                try await gateway.runtime.storage.pause(
                    accountId: failing,
                    reason: "InvalidAccessKeyId",
                    registryRevision: nil,
                    probes: 0,
                    nextProbeAt: .distantFuture,
                    now: Date()
                )
            )
            #expect(try await gateway.send(.PUT, "/k/\(failingToken)/\(failing)/queued.mp3", body: [1, 2, 3]).status == 202)
            let editedSecret = "edited-secret-\(UUID().uuidString)"

            let added = TestEnvironment.accountId()
            let secret = try TestServers.environment("RG_MOTO_SECRET_KEY")
            let screenshots = FileManager.default.temporaryDirectory.appendingPathComponent("rg-admin-page-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: screenshots) }
            let spec: [String: Any] = [
                "url": "http://127.0.0.1:\(gateway.adminPort)/",
                "admin_token": AdminListenerTests.adminToken,
                "failing_account_id": failing,
                "form": [
                    "name": "Acme Dental", "account_id": added, "access_key_id": try TestServers.environment("RG_MOTO_ACCESS_KEY"),
                    "secret_access_key": secret, "bucket": try TestServers.environment("RG_MOTO_BUCKET"),
                    "host": try TestEnvironment.host(of: "RG_MOTO_ENDPOINT"), "sse": "AES256", "scheme": "http", "path_style": true,
                ],
                "edit": ["name": "Renamed Clinic", "secret_access_key": editedSecret],
                "secrets": [secret, TestGateway.unreachableSecret, editedSecret],
                "screenshots": ProcessInfo.processInfo.environment["RG_SCREENSHOTS"] ?? screenshots.path,
            ]
            let input = String(decoding: try JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
            let run = try await onOwnThread { try ChildProcess.run("python3", [TestServers.script("admin-page-check.py")], input: input) }
            #expect(run.status == 0, "\(run.error)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.output)")

            #expect(report["failure"] == nil, "\(report["failure"] ?? "")")
            #expect((report["errors"] as? [String]) == [], "script errors: \(report["errors"] ?? "")")
            #expect((report["wrong_token_message"] as? String)?.contains("refused") == true)
            #expect(report["wrong_token_signed_out"] as? Bool == true)
            #expect(report["signed_in"] as? Bool == true)
            // The queue's drain, as /metrics and `queue list` say it: the failing account's upload waits.
            #expect((report["status_line"] as? String)?.contains("1 waiting for S3") == true, "\(report["status_line"] ?? "")")

            // The form's account is in the registry, listed, and its storage URL stores.
            #expect(report["added_listed"] as? Bool == true, "\(report["add_error"] ?? "")")
            let account = try await gateway.runtime.accounts.find(added)
            #expect(account.name == "Acme Dental" && account.sse == .aes256 && account.pathStyle && account.scheme == .http)
            let storageURL = try #require(report["issued_storage_url"] as? String)
            let token = try #require(storageURL.split(separator: "/").last.map(String.init))
            #expect(try await gateway.send(.PUT, "/k/\(token)/\(added)/from-the-page.mp3", body: [7, 8, 9]).status == 201)

            // Edit: the new name is listed, the new secret is sealed, the pause is gone.
            #expect(report["edited_name_listed"] as? Bool == true)
            #expect(try await gateway.runtime.accounts.find(failing).name == "Renamed Clinic")
            #expect(try await gateway.runtime.ledger.pausedAccounts()[failing] == nil)
            let sealed = try await gateway.runtime.accounts.loadCredentials().accounts.first { $0.record.accountId == failing }
            let sealedIsTheNewSecret = sealed?.secret == editedSecret
            #expect(sealedIsTheNewSecret)

            // Test connection: the unreachable account fails at the endpoint (the rest skipped); the
            // least-privilege moto account passes all seven checks.
            let failingCheck = try #require(report["failing_verify"] as? [String: Any])
            let failingStatuses = try #require(failingCheck["statuses"] as? [String])
            #expect(failingStatuses.first == "FAIL" && failingStatuses.dropFirst().allSatisfy { $0 == "SKIP" }, "\(failingCheck)")
            #expect((failingCheck["summary"] as? String)?.contains("failed") == true)
            let addedCheck = try #require(report["added_verify"] as? [String: Any])
            #expect(addedCheck["statuses"] as? [String] == Array(repeating: "PASS", count: 7), "\(addedCheck)")

            // The policies shown for the bucket parse as JSON (user policy, bucket policy, lifecycle).
            #expect(report["policies"] as? [Bool] == [true, true, true])

            // The queued upload's Retry button made it due now.
            #expect(report["queue_rows"] as? Int == 1)
            #expect((report["retry_notice"] as? String)?.hasPrefix("1 upload is due now") == true)

            // No secret in the DOM, in any field, in the tab's storage or in any API answer the page got.
            #expect((report["api_answers_seen"] as? Int ?? 0) > 5)
            #expect(report["secret_hits"] as? [String] == [])
            #expect(!run.output.contains(secret) && !run.error.contains(secret))

            // Usable at both widths: nothing wider than the screen.
            let widths = try #require(report["widths"] as? [String: [String: Int]])
            for width in ["1280", "390"] {
                let measured = try #require(widths[width])
                #expect(measured["innerWidth"] == Int(width))
                #expect((measured["scrollWidth"] ?? .max) <= (measured["innerWidth"] ?? 0), "horizontal scrolling at \(width) px")
            }
        }
    }
}
