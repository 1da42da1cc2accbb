public import ArgumentParser
import Foundation
import Gateway
import S3

struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the KAZOO accounts the gateway stores recordings for (safe while `serve` runs).",
        subcommands: [Add.self, List.self, Show.self, Update.self, Remove.self, RotateToken.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an account; prints its storage URL and the KAZOO storage document.",
            discussion:
                "The secret access key is read from standard input (e.g. `printf %s \"$SECRET\" | recording-gateway accounts add ...`), never from the command line."
        )

        @Option(help: "KAZOO's account id (32 lowercase hex characters).")
        var accountId: String
        @OptionGroup var fields: AccountFields
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print one JSON object.")
        var json = false

        func validate() throws {
            guard fields.name != nil else { throw ValidationError("--name is required") }
            guard fields.bucket != nil else { throw ValidationError("--bucket is required") }
            guard fields.host != nil else { throw ValidationError("--host is required") }
            guard fields.accessKeyId != nil else { throw ValidationError("--access-key-id is required") }
            guard fields.secretAccessKeyStdin else { throw ValidationError("--secret-access-key-stdin is required: pipe the secret in") }
        }

        func run() async throws {
            try await reportingFailures {
                let (config, store) = try await options.accountRegistry()
                let (account, token) = try await store.add(accountId: accountId, try fields.input())
                printIssued(account: account, token: token, publicBaseURL: config.publicBaseURL, json: json, verb: "added")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the accounts.")
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print a JSON array.")
        var json = false

        func run() async throws {
            try await reportingFailures {
                let accounts = try await options.accountRegistry().registry.list()
                if json {
                    print(AccountPresentation.json(accounts.map(AccountPresentation.object)))
                    return
                }
                guard !accounts.isEmpty else {
                    print("No accounts. Add one with `recording-gateway accounts add`.")
                    return
                }
                for account in accounts {
                    let state = account.enabled ? "enabled " : "disabled"
                    print("\(account.accountId)  \(state)  \(account.bucket) @ \(account.host)  \(account.name)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one account (never its secret).")
        @Argument(help: "The account id.") var accountId: String
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await reportingFailures {
                let account = try await options.accountRegistry().registry.find(accountId)
                print(json ? AccountPresentation.json(AccountPresentation.object(account)) : AccountPresentation.text(account))
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an account's settings; options not given stay as they are.",
            discussion: "A new secret access key is read from standard input with --secret-access-key-stdin."
        )
        @Argument(help: "The account id.") var accountId: String
        @OptionGroup var fields: AccountFields
        @Flag(inversion: .prefixedEnableDisable, help: "Accept or refuse this account's requests.")
        var account: Bool?
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await reportingFailures {
                var input = try fields.input()
                input.enabled = account
                let updated = try await options.accountRegistry().registry.update(accountId, input)
                print(
                    json
                        ? AccountPresentation.json(AccountPresentation.object(updated))
                        : "Account \(accountId) updated.\n" + AccountPresentation.text(updated)
                )
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove an account: its token stops working. Objects in its bucket are not touched."
        )
        @Argument(help: "The account id.") var accountId: String
        @OptionGroup var options: GatewayOptions

        func run() async throws {
            try await reportingFailures {
                try await options.accountRegistry().registry.remove(accountId)
                print("Account \(accountId) removed; its storage URL no longer works. Its bucket was not touched.")
            }
        }
    }

    struct RotateToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-token",
            abstract: "Issue a new client token; the old storage URL stops working at once."
        )
        @Argument(help: "The account id.") var accountId: String
        @OptionGroup var options: GatewayOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            try await reportingFailures {
                let (config, store) = try await options.accountRegistry()
                let token = try await store.rotateToken(accountId)
                let account = try await store.find(accountId)
                printIssued(account: account, token: token, publicBaseURL: config.publicBaseURL, json: json, verb: "given a new token")
            }
        }
    }
}

/// Prints a newly issued token's storage URL and storage document (the only time the token is shown).
func printIssued(account: Account, token: String, publicBaseURL: String, json: Bool, verb: String) {
    let issued = AccountPresentation.issued(account, token: token, publicBaseURL: publicBaseURL)
    if json {
        print(AccountPresentation.json(issued))
        return
    }
    let url = AccountPresentation.storageURL(publicBaseURL: publicBaseURL, token: token)
    let document = AccountPresentation.storageDocument(accountId: account.accountId, storageURL: url)
    print(
        """
        Account \(account.accountId) (\(account.name)) \(verb).

        Storage URL for KAZOO (shown only now; it lets anyone store recordings for this account, keep it secret):
          \(url)

        KAZOO storage document: send it as the body of PUT /v2/accounts/\(account.accountId)/storage
        \(AccountPresentation.json(document))
        """
    )
}

/// The account settings `add` and `update` take.
struct AccountFields: ParsableArguments {
    @Option(help: "The customer's name.") var name: String?
    @Option(help: "The S3 bucket.") var bucket: String?
    @Option(help: "The S3 host of the bucket's region, e.g. s3.us-west-1.amazonaws.com.") var host: String?
    @Option(help: "The bucket's region (read from the host when not given; an empty value clears it).") var region: String?
    @Option(help: "https (default) or http.") var scheme: S3Endpoint.Scheme?
    @Flag(inversion: .prefixedNo, help: "Path-style URLs (host/bucket/key) instead of virtual-hosted (bucket.host/key).")
    var pathStyle: Bool?
    @Option(help: "The IAM user's access key id.") var accessKeyId: String?
    @Flag(help: "Read the secret access key from standard input.") var secretAccessKeyStdin = false
    @Option(help: "Server-side encryption: AES256 (default), aws:kms or none.") var sse: String?
    @Option(help: "KMS key ARN or id (with --sse aws:kms).") var kmsKeyId: String?
    @Option(help: "Prefix for every object key, e.g. recordings/.") var prefix: String?
    @Option(help: "GETs: redirect (302 to a presigned URL, default) or proxy (the gateway streams the bytes).")
    var download: Account.DownloadMode?
    @Option(help: "S3 storage class, e.g. STANDARD_IA (bucket default when not given).") var storageClass: String?
    @Option(help: "Presigned URL lifetime in seconds (1-604800).") var presignExpiry: Int?

    func input() throws -> AccountInput {
        var input = AccountInput()
        input.name = name
        input.bucket = bucket
        input.host = host
        input.region = region
        input.scheme = scheme
        input.pathStyle = pathStyle
        input.accessKeyId = accessKeyId
        input.keyPrefix = prefix
        input.kmsKeyId = kmsKeyId
        input.downloadMode = download
        input.storageClass = storageClass
        input.presignExpirySeconds = presignExpiry
        if let sse { input.sse = .some(try AccountInput.encryption(sse)) }
        if secretAccessKeyStdin {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            input.secretAccessKey = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return input
    }
}

extension S3Endpoint.Scheme: ExpressibleByArgument {}
extension Account.DownloadMode: ExpressibleByArgument {}
