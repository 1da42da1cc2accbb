import Foundation
import Gateway
import TestSupport
import Testing

/// `recording-gateway policy`: every document it prints parses and grants exactly what the gateway needs.
struct PolicyTests {
    static let arn = "arn:aws:iam::123456789012:user/acme-recordings"

    static func run(_ arguments: [String]) async throws -> ChildProcess.Result {
        try await onOwnThread { try CommandLineTests.run(["policy"] + arguments) }
    }

    static func statements(_ document: Any?) throws -> [[String: Any]] {
        let object = try #require(document as? [String: Any])
        #expect(object["Version"] as? String == "2012-10-17")
        return try #require(object["Statement"] as? [[String: Any]])
    }

    @Test func jsonHoldsEveryDocumentAndEachGrantsOnlyTheThreeActions() async throws {
        let result = try await Self.run(["--bucket", "acme-recordings", "--user-arn", Self.arn, "--require-tls", "--json"])
        #expect(result.status == 0, "\(result.error)")
        let all = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let resources = ["arn:aws:s3:::acme-recordings", "arn:aws:s3:::acme-recordings/*"]

        let user = try Self.statements(all["user_policy"])
        #expect(user.count == 1)
        #expect(user[0]["Effect"] as? String == "Allow")
        #expect(user[0]["Action"] as? [String] == ["s3:ListBucket", "s3:PutObject", "s3:GetObject"])
        #expect(user[0]["Resource"] as? [String] == resources)

        let bucket = try Self.statements(all["bucket_policy"])
        #expect(bucket.count == 2)
        #expect((bucket[0]["Principal"] as? [String: String]) == ["AWS": Self.arn])
        #expect(bucket[0]["Action"] as? [String] == ["s3:ListBucket", "s3:PutObject", "s3:GetObject"])
        #expect(bucket[0]["Resource"] as? [String] == resources)
        #expect(bucket[1]["Effect"] as? String == "Deny")
        #expect(bucket[1]["Principal"] as? String == "*")
        let condition = try #require(bucket[1]["Condition"] as? [String: [String: String]])
        #expect(condition == ["Bool": ["aws:SecureTransport": "false"]])

        let lifecycle = try #require(all["lifecycle_configuration"] as? [String: Any])
        let rule = try #require((lifecycle["Rules"] as? [[String: Any]])?.first)
        #expect(rule["Status"] as? String == "Enabled")
        #expect((rule["AbortIncompleteMultipartUpload"] as? [String: Int]) == ["DaysAfterInitiation": 7])
        #expect((rule["Filter"] as? [String: String]) == ["Prefix": ""])
        let probes = try #require((lifecycle["Rules"] as? [[String: Any]])?.last)
        #expect((probes["Filter"] as? [String: String]) == ["Prefix": "rg-verify/"])
        #expect((probes["Expiration"] as? [String: Int]) == ["Days": 1])
    }

    @Test func textPrintsParsableDocumentsUnderTheirHeadings() async throws {
        for arguments in [["--bucket", "acme-recordings"], ["--bucket", "acme-recordings", "--user-arn", Self.arn]] {
            let result = try await Self.run(arguments)
            #expect(result.status == 0, "\(result.error)")
            let sections = result.output.components(separatedBy: "\n\n")
            var parsed = 0
            for section in sections {
                let lines = section.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.first?.hasPrefix("#") ?? false, "each document has a heading: \(section)")
                let body = lines.dropFirst().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
                guard !body.isEmpty else { continue }
                #expect((try? JSONSerialization.jsonObject(with: Data(body.utf8))) != nil, "does not parse: \(body)")
                parsed += 1
            }
            #expect(parsed == (arguments.contains("--user-arn") ? 3 : 2))
        }
    }

    @Test func badBucketsAndArnsAreRefusedNamingTheField() async throws {
        let badBucket = try await Self.run(["--bucket", "Acme_Recordings"])
        #expect(badBucket.status != 0)
        #expect(badBucket.error.contains("bucket:"))
        let badArn = try await Self.run(["--bucket", "acme-recordings", "--user-arn", "arn:aws:iam::12345:user/x"])
        #expect(badArn.status != 0)
        #expect(badArn.error.contains("user-arn:"))
    }
}
