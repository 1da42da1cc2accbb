import ArgumentParser
import Foundation
import Gateway

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an account's S3 set-up with its stored credentials: endpoint, clock, region, put, get, list, and that delete is denied.",
        discussion: "One line per check: PASS, FAIL or WARN, and what to do. Exit status 0 only when nothing failed."
    )

    @Argument(help: "The account id.") var accountId: String
    @OptionGroup var options: GatewayOptions
    @Flag(help: "Print a JSON array of the lines.") var json = false

    func run() async throws {
        try await reportingFailures {
            let config = try options.load()
            LogSetup.bootstrap(format: config.logFormat, level: "critical")
            var passed = true
            try await options.withRuntime(config) { runtime in
                guard let check = try runtime.connectionCheck(accountId: accountId) else {
                    throw CommandFailure("no account \(accountId) (see `accounts list`)")
                }
                let lines = await check.run()
                passed = ConnectionCheck.passed(lines)
                if json {
                    let data = try JSONEncoder().encode(lines)
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    for line in lines { print(line.text) }
                }
            }
            if !passed { throw ExitCode.failure }
        }
    }
}
