import Foundation
import FuzzHarness
import Testing

/// Every seed in Fuzz/corpus and every input a fuzz run once failed on (Fuzz/regressions) keeps every property
/// of its target, in the ordinary build (scripts/fuzz runs the same targets under libFuzzer and ASan).
struct CorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.map { directory.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everySeedKeepsItsTargetsProperties(_ target: FuzzTarget) async throws {
        let seeds = Self.inputs("corpus", target)
        #expect(seeds.count >= 3, "Fuzz/corpus/\(target.rawValue) has \(seeds.count) seeds")
        for seed in seeds { try await target.check([UInt8](Data(contentsOf: seed))) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyRegressionKeepsItsTargetsProperties(_ target: FuzzTarget) async throws {
        for input in Self.inputs("regressions", target) {
            let bytes = try [UInt8](Data(contentsOf: input))
            do {
                try await target.check(bytes)
            } catch {
                Issue.record("Fuzz/regressions/\(target.rawValue)/\(input.lastPathComponent): \(error.message)")
            }
        }
    }
}
