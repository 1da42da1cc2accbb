import Foundation

/// Values the tests share: test servers' hosts, reproducible random bytes, fresh account ids.
public enum TestEnvironment {
    public static func host(of variable: String) throws -> String {
        let endpoint = try TestServers.environment(variable)
        return String(endpoint.dropFirst("http://".count))
    }

    public static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    public static func accountId() -> String {
        (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
