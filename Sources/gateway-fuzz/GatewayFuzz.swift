import FuzzHarness

#if canImport(Glibc)
import Glibc
#endif

#if FUZZING
/// libFuzzer's entry point for one input (scripts/fuzz builds with -sanitize=fuzzer,address -D FUZZING); the
/// target is chosen by RG_FUZZ_TARGET.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    FuzzTarget.selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, which parses its own options (`-max_total_time=`, corpus directories) from the arguments.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The executable's main (SwiftPM names every executable's entry point itself, so libFuzzer's own `main` cannot be
/// it): hands the arguments to libFuzzer's driver.
@main
struct FuzzMain {
    static func main() {
        _ = FuzzTarget.selected
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
/// Without libFuzzer: runs the files given on the command line through the target named by RG_FUZZ_TARGET
/// (a crash input replayed under a debugger, or a corpus checked by hand).
@main
struct ReplayInputs {
    static func main() throws {
        let target = FuzzTarget.selected
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else {
                print("cannot open \(path)")
                exit(1)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while case let count = fread(&chunk, 1, chunk.count, file), count > 0 { bytes += chunk[..<count] }
            fclose(file)
            bytes.withUnsafeBytes { target.run($0) }
            print("\(target.rawValue): \(path) (\(bytes.count) bytes) ok")
        }
    }
}
#endif
