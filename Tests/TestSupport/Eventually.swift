import Foundation

/// Waits for `condition` to hold, checking it every `interval`, until `seconds` have passed; returns
/// whether it held. Tests order their steps on the condition itself, never on a fixed sleep.
public func eventually(
    _ seconds: Double = 30,
    every interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}
