import ArgumentParser
import Foundation

/// `kazoo-load compare`: each figure of some runs against a committed baseline of the same scenarios,
/// flagged when it changed by more than the threshold in the worse direction (exit status 1), or noted when
/// it got better by as much. `--write` makes the baseline from the runs instead.
struct Compare: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare runs' JSON reports with a baseline (a regression check before a release)."
    )

    @Option(help: "The baseline JSON (Benchmarks/baseline.json).") var baseline: String
    @Option(help: "A change larger than this many percent is flagged.") var threshold = 10.0
    @Flag(help: "Write the baseline from these reports instead of comparing.") var write = false
    @Argument(help: "JSON reports written by runs (--json); each is matched to the baseline by its label.")
    var reports: [String]

    /// One scenario's figures; `higherIsBetter` says which way a change is a regression.
    struct Figure {
        var name: String
        var value: Double
        var higherIsBetter: Bool
    }

    struct Baseline: Codable {
        var note: String
        var scenarios: [String: [String: Double]]
    }

    static func figures(_ r: LoadReport) -> [Figure] {
        var figures = [
            Figure(name: "stores.per_second", value: r.stores.perSecond, higherIsBetter: true),
            Figure(name: "stores.failed", value: Double(r.stores.failed), higherIsBetter: false),
            Figure(name: "stores.latency_ms.p50", value: r.stores.latencyMs.p50, higherIsBetter: false),
            Figure(name: "stores.latency_ms.p99", value: r.stores.latencyMs.p99, higherIsBetter: false),
            Figure(name: "stores.latency_ms.p999", value: r.stores.latencyMs.p999, higherIsBetter: false),
            Figure(name: "fetches.failed", value: Double(r.fetches.failed), higherIsBetter: false),
            Figure(name: "fetches.mismatched", value: Double(r.fetches.mismatched ?? 0), higherIsBetter: false),
            Figure(name: "fetches.latency_ms.p99", value: r.fetches.latencyMs.p99, higherIsBetter: false),
            Figure(name: "mib_per_second", value: r.mibPerSecond, higherIsBetter: true),
        ]
        if let rss = r.rssMib { figures.append(Figure(name: "rss_mib.peak", value: rss.peak, higherIsBetter: false)) }
        if let cores = r.cpuCores { figures.append(Figure(name: "cpu_cores", value: cores, higherIsBetter: false)) }
        return figures
    }

    func run() async throws {
        let runs = try reports.map { path in
            try LoadReport.decoder.decode(LoadReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        if write {
            var scenarios: [String: [String: Double]] = [:]
            for run in runs { scenarios[run.label] = Dictionary(uniqueKeysWithValues: Self.figures(run).map { ($0.name, $0.value) }) }
            let note =
                "kazoo-load figures on \(ProcessInfo.processInfo.hostName), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(runs.first?.started ?? "")"
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(Baseline(note: note, scenarios: scenarios)).write(to: URL(fileURLWithPath: baseline))
            print("wrote \(scenarios.count) scenarios to \(baseline)")
            return
        }
        let base = try JSONDecoder().decode(Baseline.self, from: Data(contentsOf: URL(fileURLWithPath: baseline)))
        var regressions = 0
        print("baseline: \(base.note)")
        for run in runs {
            guard let figures = base.scenarios[run.label] else {
                print("\(run.label): not in the baseline")
                continue
            }
            print("== \(run.label)")
            for figure in Self.figures(run) {
                guard let was = figures[figure.name] else { continue }
                let verdict = Self.verdict(was: was, now: figure.value, higherIsBetter: figure.higherIsBetter, threshold: threshold)
                if verdict.hasPrefix("REGRESSION") { regressions += 1 }
                let name = figure.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                print("  \(name)" + String(format: " baseline %10.2f  now %10.2f  ", was, figure.value) + verdict)
            }
        }
        print(regressions == 0 ? "no figure worse by more than \(threshold)%" : "\(regressions) figures worse by more than \(threshold)%")
        if regressions > 0 { throw ExitCode(1) }
    }

    /// "REGRESSION +23.1%", "better -15.0%" or the change, for a figure that went from `was` to `now`.
    static func verdict(was: Double, now: Double, higherIsBetter: Bool, threshold: Double) -> String {
        // Counts that should be zero (failures, mismatches): any rise from zero is a regression.
        if was == 0 { return now == 0 ? "same" : (higherIsBetter ? "better (was 0)" : "REGRESSION (was 0)") }
        let change = (now - was) / abs(was) * 100
        let text = String(format: "%+.1f%%", change)
        guard abs(change) > threshold else { return text }
        return (change > 0) == higherIsBetter ? "better \(text)" : "REGRESSION \(text)"
    }
}
