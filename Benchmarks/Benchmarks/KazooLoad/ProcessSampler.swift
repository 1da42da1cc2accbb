import Foundation

/// A process's memory and CPU as /proc tells them: resident set now (VmRSS), its peak (VmHWM), and the CPU
/// seconds (user + system) used since it started.
struct ProcessSample: Sendable, Codable {
    var seconds: Double
    var rssMib: Double
    var peakMib: Double
    var cpuSeconds: Double

    static func read(pid: Int32, at seconds: Double) -> ProcessSample? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { return nil }
        func kib(_ field: String) -> Double? {
            for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
                return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }
            }
            return nil
        }
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]),
            let rss = kib("VmRSS"), let peak = kib("VmHWM")
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessSample(seconds: seconds, rssMib: rss / 1024, peakMib: peak / 1024, cpuSeconds: (user + system) / ticks)
    }
}
