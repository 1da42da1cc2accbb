import NIOConcurrencyHelpers

/// A token bucket shared by every request to one endpoint, as AWS SDKs keep it ("retry quota"):
/// each retry spends tokens, successes earn them back. When S3 is down, retries stop being sent
/// long before every request has used up its attempts.
public final class RetryBudget: Sendable {
    public let capacity: Int
    public let retryCost: Int
    public let timeoutCost: Int
    private let tokens: NIOLockedValueBox<Int>

    public init(capacity: Int = 500, retryCost: Int = 5, timeoutCost: Int = 10) {
        self.capacity = capacity
        self.retryCost = retryCost
        self.timeoutCost = timeoutCost
        self.tokens = NIOLockedValueBox(capacity)
    }

    /// Takes the cost of one retry; false (and nothing taken) when the budget cannot pay for it.
    public func withdraw(afterTimeout: Bool) -> Bool {
        let cost = afterTimeout ? timeoutCost : retryCost
        return tokens.withLockedValue { tokens in
            guard tokens >= cost else { return false }
            tokens -= cost
            return true
        }
    }

    /// A request succeeded: a retried one returns what its last retry cost, a first-time success earns one token.
    public func deposit(afterRetryThatCost cost: Int?) {
        tokens.withLockedValue { tokens in tokens = min(capacity, tokens + (cost ?? 1)) }
    }

    /// Tokens left, for metrics and tests.
    public var available: Int { tokens.withLockedValue { $0 } }
}
