import Foundation
import Gateway

/// The configuration file (`GatewayConfig.parse`). Properties: reading ends without a crash, and a file that
/// is accepted gives every value the gateway derives from it at start-up (its limits, its budget's shares,
/// the spool's and the retries' settings) without a crash.
enum ConfigFuzz {
    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        guard let config = try? GatewayConfig.parse(Data(input)) else { return }
        try fuzzCheck(config.concurrentStores >= 1 && config.connections >= 1, "limits below one were accepted")
        try fuzzCheck(config.partBudgetBytes >= 0 && config.flowingReadBudgetBytes >= 0, "a negative share of the budget")
        _ = config.spoolSettings
        _ = config.replayBackoff
        _ = config.retryPolicy
        _ = config.replayPerAccount
        _ = try? ListenAddress(config.listen)
    }
}
