/// When and how long to wait before retrying a failed S3 request: exponential backoff with full jitter
/// (delay = random(0, min(cap, base * 2^retry))), a maximum number of attempts, and a retry budget per
/// endpoint so that an outage does not multiply the load on S3. Randomness is injected so tests do not depend on it.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(20)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Whether another attempt may follow `attempt` (1 is the first).
    public func allowsAttempt(after attempt: Int) -> Bool { attempt < maxAttempts }

    /// The wait before retry number `retry` (0 for the first retry), given a uniform random number in 0...1.
    public func delay(beforeRetry retry: Int, unitRandom: Double) -> Duration {
        let ceiling = ceilingDelay(beforeRetry: retry)
        let fraction = min(max(unitRandom, 0), 1)
        return ceiling * fraction
    }

    /// min(cap, base * 2^retry), without overflowing for large retry numbers.
    public func ceilingDelay(beforeRetry retry: Int) -> Duration {
        var ceiling = baseDelay
        for _ in 0..<max(0, retry) {
            if ceiling >= maxDelay { break }
            ceiling = ceiling * 2
        }
        return min(ceiling, maxDelay)
    }
}
