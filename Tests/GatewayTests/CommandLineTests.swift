import Foundation
import Gateway
import TestSupport
import Testing

/// The `recording-gateway` executable as operators run it (built by `swift build` before the tests).
@Suite(.serialized)
struct CommandLineTests {
    /// This tree's debug build, or RG_GATEWAY_BINARY (the sanitizer runs' own build).
    static let binary =
        ProcessInfo.processInfo.environment["RG_GATEWAY_BINARY"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/recording-gateway").path

    static func run(_ arguments: [String], input: String = "", environment: [String: String] = [:]) throws -> ChildProcess.Result {
        let inherited = ProcessInfo.processInfo.environment.filter { $0.key != MasterKey.environmentVariable }
        return try ChildProcess.run(binary, arguments, input: input, environment: inherited.merging(environment) { $1 })
    }

    static func withDataDirectory(_ body: (_ options: [String]) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "rg-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/config.json"
        try Data(#"{"public_base_url": "https://recordings.example.com/", "data_dir": "\#(directory)/data"}"#.utf8).write(
            to: URL(fileURLWithPath: config)
        )
        try body(["--config", config])
    }

    static let id = "0123456789abcdef0123456789abcdef"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let addArguments = [
        "accounts", "add", "--account-id", id, "--name", "Acme Dental", "--bucket", "acme-recordings",
        "--host", "s3.us-west-1.amazonaws.com", "--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-access-key-stdin",
    ]

    @Test func accountLifecycleNeverPrintsASecret() throws {
        try Self.withDataDirectory { options in
            let added = try Self.run(Self.addArguments + options + ["--json"], input: Self.secret + "\n")
            #expect(added.status == 0, "\(added.error)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(added.output.utf8)) as? [String: Any])
            let token = try #require(object["token"] as? String)
            #expect(object["account_id"] as? String == Self.id)
            #expect(object["storage_url"] as? String == "https://recordings.example.com/k/\(token)")
            #expect(object["storage_document"] is [String: Any])
            #expect(!added.output.contains(Self.secret))

            var outputs: [String] = []
            let text = try Self.run(["accounts", "list"] + options)
            #expect(text.output.contains(Self.id))
            outputs.append(text.output)
            let show = try Self.run(["accounts", "show", Self.id] + options)
            #expect(show.output.contains("us-west-1"))
            outputs.append(show.output)
            let showJSON = try Self.run(["accounts", "show", Self.id, "--json"] + options)
            #expect(showJSON.output.contains("\"bucket\" : \"acme-recordings\""))
            outputs.append(showJSON.output)
            let updated = try Self.run(
                ["accounts", "update", Self.id, "--prefix", "calls", "--secret-access-key-stdin", "--disable-account"] + options,
                input: "NEW" + Self.secret
            )
            #expect(updated.status == 0, "\(updated.error)")
            #expect(updated.output.contains("calls/"))
            outputs.append(updated.output)
            let rotated = try Self.run(["accounts", "rotate-token", Self.id] + options)
            #expect(rotated.status == 0)
            #expect(rotated.output.contains("https://recordings.example.com/k/rg_"))
            #expect(!rotated.output.contains(token))
            outputs.append(rotated.output)
            for output in outputs {
                #expect(!output.contains(Self.secret))
                #expect(!output.contains(token))
                #expect(!output.contains(ClientToken.hash(token)))
            }
            let removed = try Self.run(["accounts", "remove", Self.id] + options)
            #expect(removed.status == 0)
            let gone = try Self.run(["accounts", "show", Self.id] + options)
            #expect(gone.status == 1)
            #expect(gone.error.contains("no account \(Self.id)"))
        }
    }

    @Test func badInputIsRefusedWithTheFieldNamed() throws {
        try Self.withDataDirectory { options in
            func refusal(_ replace: (String, String)) throws -> String {
                var arguments = Self.addArguments
                if let index = arguments.firstIndex(of: replace.0) { arguments[index + 1] = replace.1 }
                let run = try Self.run(arguments + options, input: Self.secret)
                #expect(run.status != 0)
                #expect(!run.error.contains(Self.secret))
                return run.error
            }
            #expect(try refusal(("--account-id", "ACME")).contains("account_id"))
            #expect(try refusal(("--bucket", "")).contains("bucket"))
            #expect(try refusal(("--bucket", "Acme_Recordings")).contains("bucket"))
            #expect(try refusal(("--host", "s3.us-west-1.amazonaws.com/acme")).contains("host"))
            #expect(try Self.run(Self.addArguments + options, input: Self.secret).status == 0)
            #expect(try refusal(("--name", "Again")).contains("already exists"))
            let noSecret = try Self.run(Self.addArguments.filter { $0 != "--secret-access-key-stdin" } + options)
            #expect(noSecret.status != 0)
            #expect(noSecret.error.contains("secret-access-key-stdin"))
            let help = try Self.run(["accounts", "add", "--help"])
            #expect(!help.output.contains("--secret-access-key "))
        }
    }

    @Test func serveRefusesAWrongMasterKeyClearly() throws {
        try Self.withDataDirectory { options in
            #expect(try Self.run(Self.addArguments + options, input: Self.secret).status == 0)
            let wrongKey = MasterKey.generateEncoded()
            let serve = try Self.run(["serve", "--listen", "127.0.0.1:0"] + options, environment: [MasterKey.environmentVariable: wrongKey])
            #expect(serve.status == 1)
            #expect(serve.error.contains("does not open"))
            #expect(!serve.error.contains(wrongKey))
        }
    }
}
