import NIOConcurrencyHelpers

/// Credentials that name no account, counted per client address: each address may fail `burst` times, and
/// earns one more try every `refill`; past that, its failures are answered 429 with `Retry-After` and cost
/// no database read. A request whose token is right is never slowed, from any address (KAZOO's own traffic).
final class GuessingGuard: Sendable {
    struct Verdict: Equatable {
        /// Seconds until the address may fail again.
        var retryAfter: Int
        /// Whether to log it: once a minute per address at most.
        var log: Bool
    }

    private struct Budget {
        var tries: Double
        var updated: ContinuousClock.Instant
        var logged: ContinuousClock.Instant?
    }

    let burst: Int
    let refill: Duration
    /// Addresses remembered at most; beyond it, those whose budget is whole again are forgotten.
    let capacity: Int
    private let budgets = NIOLockedValueBox<[String: Budget]>([:])

    init(burst: Int = 20, refill: Duration = .seconds(6), capacity: Int = 10_000) {
        self.burst = burst
        self.refill = refill
        self.capacity = capacity
    }

    /// Whether `address` has no tries left now.
    func isThrottled(_ address: String, now: ContinuousClock.Instant = .now) -> Bool {
        budgets.withLockedValue { budgets in budgets[address].map { refilled($0, now).tries < 1 } ?? false }
    }

    /// A failed authentication from `address`: nil when it spent a try (answer 401), else the 429's verdict.
    func failed(from address: String, now: ContinuousClock.Instant = .now) -> Verdict? {
        budgets.withLockedValue { budgets in
            var budget = budgets[address].map { refilled($0, now) } ?? Budget(tries: Double(burst), updated: now, logged: nil)
            defer {
                budgets[address] = budget
                if budgets.count > capacity { budgets = budgets.filter { refilled($0.value, now).tries < Double(burst) } }
            }
            if budget.tries >= 1 {
                budget.tries -= 1
                return nil
            }
            let log = budget.logged.map { now - $0 >= .seconds(60) } ?? true
            if log { budget.logged = now }
            let seconds = (1 - budget.tries) * Self.seconds(refill)
            return Verdict(retryAfter: max(1, Int(seconds.rounded(.up))), log: log)
        }
    }

    private func refilled(_ budget: Budget, _ now: ContinuousClock.Instant) -> Budget {
        var budget = budget
        budget.tries = min(Double(burst), budget.tries + Self.seconds(now - budget.updated) / Self.seconds(refill))
        budget.updated = now
        return budget
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
