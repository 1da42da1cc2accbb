public import Foundation
import NIOConcurrencyHelpers

/// Timeouts, retries, and the clock, sleep and randomness the client uses — injected so that tests
/// exercise retries and clock skew without sleeping.
public struct S3ClientConfiguration: Sendable {
    public var connectTimeout: Duration = .seconds(10)
    /// Longest silence on a connection while waiting for bytes.
    public var idleTimeout: Duration = .seconds(30)
    /// Longest one request may take, body included (a part of 8 MiB over a slow link needs minutes).
    public var requestTimeout: Duration = .seconds(300)
    public var retry = RetryPolicy()
    /// Largest answer body read into memory (error documents, XML results): the gateway's are under 4 KiB (a
    /// ListObjectsV2 of 10 keys of 1,024 bytes under 16 KiB); a larger one is refused, not held.
    public var maxResponseBytes = 64 * 1024
    public var now: @Sendable () -> Date = { Date() }
    public var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    /// A uniform random number in 0...1, for backoff jitter.
    public var random: @Sendable () -> Double = { Double.random(in: 0...1) }
    /// PEM files of certificates trusted for S3 endpoints besides the system's (`s3_ca_file`).
    public var trustedCertificateFiles: [String] = []
    /// Told each operation's outcome and duration, and each retry (metrics).
    public var observer: (any S3Observer)?

    public init() {}
}

/// The difference between S3's clock and ours, learnt from a `RequestTimeTooSkewed` answer.
final class ClockOffset: Sendable {
    private let offset = NIOLockedValueBox<Int64>(0)

    var offsetSeconds: Int64 { offset.withLockedValue { $0 } }

    func correct(serverTime: Date, localTime: Date) {
        let seconds = Int64((serverTime.timeIntervalSince1970 - localTime.timeIntervalSince1970).rounded())
        offset.withLockedValue { $0 = seconds }
    }

    func signingTime(now: Date) -> SigningTime {
        SigningTime(secondsSince1970: Int64(now.timeIntervalSince1970.rounded(.down)) + offsetSeconds)
    }
}

/// HTTP dates (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 IMF-fixdate) and S3's ISO 8601 `ServerTime`.
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        let amz = String(format: "%04d%02d%02dT%02d%02d%02dZ", year, monthIndex + 1, day, clock[0], clock[1], clock[2])
        return SigningTime(amzDate: amz).map { Date(timeIntervalSince1970: TimeInterval($0.secondsSince1970)) }
    }

    /// `2026-11-29T18:00:00Z` or `2026-11-29T18:00:00.000Z`
    static func parseISO8601(_ text: String) -> Date? {
        let digits = text.prefix(19).filter { $0.isNumber }
        guard digits.count == 14 else { return nil }
        let amz = String(digits.prefix(8)) + "T" + String(digits.suffix(6)) + "Z"
        return SigningTime(amzDate: amz).map { Date(timeIntervalSince1970: TimeInterval($0.secondsSince1970)) }
    }
}
