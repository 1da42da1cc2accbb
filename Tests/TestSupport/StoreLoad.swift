public import AsyncHTTPClient
import Foundation
public import NIOCore

/// Stores sent from this process, `concurrency` at a time, each timed from its request to its whole answer.
public struct StoreLoad: Sendable {
    public struct Result: Sendable {
        /// Each store's status, in the order they were given.
        public var statuses: [UInt]
        /// Each store's time, in seconds, in the order they were given.
        public var seconds: [Double]
        /// From the first request to the last answer.
        public var elapsed: Double

        /// The `fraction` quantile of the stores' times (nearest rank).
        public func quantile(_ fraction: Double) -> Double {
            let sorted = seconds.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))]
        }

        public var perSecond: Double { Double(statuses.count) / max(elapsed, 1e-9) }
    }

    public let concurrency: Int

    public init(concurrency: Int) { self.concurrency = concurrency }

    /// PUTs `body` to each of `urls`.
    public func put(_ body: ByteBuffer, to urls: [String]) async throws -> Result {
        try await put(urls.map { ($0, body) })
    }

    /// PUTs each body to its URL.
    public func put(_ stores: [(url: String, body: ByteBuffer)]) async throws -> Result {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let started = ContinuousClock.now
        let outcome: Swift.Result<[(Int, UInt, Double)], any Error>
        do {
            outcome = .success(
                try await withThrowingTaskGroup(of: (Int, UInt, Double).self) { group in
                    var next = 0
                    var done: [(Int, UInt, Double)] = []
                    func start() {
                        let index = next
                        next += 1
                        group.addTask {
                            var request = HTTPClientRequest(url: stores[index].url)
                            request.method = .PUT
                            request.headers.add(name: "Content-Type", value: "audio/mpeg")
                            request.body = .bytes(stores[index].body)
                            let begun = ContinuousClock.now
                            let response = try await client.execute(request, timeout: .seconds(300))
                            _ = try await response.body.collect(upTo: 1 << 20)
                            let took = ContinuousClock.now - begun
                            let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
                            return (index, response.status.code, seconds)
                        }
                    }
                    while next < min(concurrency, stores.count) { start() }
                    for try await store in group {
                        done.append(store)
                        if next < stores.count { start() }
                    }
                    return done
                }
            )
        } catch {
            outcome = .failure(error)
        }
        let elapsed = ContinuousClock.now - started
        try await client.shutdown()
        let answered = try outcome.get().sorted { $0.0 < $1.0 }
        return Result(
            statuses: answered.map(\.1),
            seconds: answered.map(\.2),
            elapsed: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        )
    }
}
