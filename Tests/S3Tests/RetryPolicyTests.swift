import S3
import Testing

struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(2))

    @Test func ceilingDoublesUpToTheCap() {
        let ceilings = (0..<8).map { policy.ceilingDelay(beforeRetry: $0) }
        #expect(
            ceilings == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .seconds(2), .seconds(2),
                .seconds(2),
            ]
        )
        #expect(policy.ceilingDelay(beforeRetry: 10_000) == .seconds(2))
    }

    @Test func fullJitterSpansZeroToTheCeiling() {
        #expect(policy.delay(beforeRetry: 2, unitRandom: 0) == .zero)
        #expect(policy.delay(beforeRetry: 2, unitRandom: 1) == .milliseconds(400))
        #expect(policy.delay(beforeRetry: 2, unitRandom: 0.5) == .milliseconds(200))
        #expect(policy.delay(beforeRetry: 2, unitRandom: 7) == .milliseconds(400))
    }

    @Test func attemptsStopAtTheMaximum() {
        #expect(policy.allowsAttempt(after: 3))
        #expect(!policy.allowsAttempt(after: 4))
        #expect(!RetryPolicy(maxAttempts: 0).allowsAttempt(after: 1))
    }

    @Test func budgetRunsOutAndRefills() {
        let budget = RetryBudget(capacity: 12, retryCost: 5, timeoutCost: 10)
        #expect(budget.withdraw(afterTimeout: false))
        #expect(!budget.withdraw(afterTimeout: true))  // 7 left, a timeout retry costs 10
        #expect(budget.withdraw(afterTimeout: false))
        #expect(!budget.withdraw(afterTimeout: false))  // 2 left
        #expect(budget.available == 2)
        budget.deposit(afterRetryThatCost: 5)
        budget.deposit(afterRetryThatCost: nil)
        #expect(budget.available == 8)
        for _ in 0..<10 { budget.deposit(afterRetryThatCost: 5) }
        #expect(budget.available == 12)
    }
}
