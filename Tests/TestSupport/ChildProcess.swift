import Foundation

/// Runs a program to its end (curl, erl, openssl, the gateway's own executable) and returns its exit
/// status and what it wrote. Output goes through files, so neither stream can fill a pipe and stall.
public enum ChildProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var output: String
        public var error: String
    }

    /// - Parameters:
    ///   - program: a path, or a name looked up on PATH.
    ///   - input: written to standard input, which is then closed.
    ///   - environment: the whole environment (the test's own when nil).
    public static func run(_ program: String, _ arguments: [String], input: String = "", environment: [String: String]? = nil) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = ["in", "out", "err"].map { directory.appendingPathComponent($0) }
        try Data(input.utf8).write(to: files[0])
        try Data().write(to: files[1])
        try Data().write(to: files[2])

        let process = makeProcess(program, arguments, environment: environment)
        let handles = try [FileHandle(forReadingFrom: files[0]), FileHandle(forWritingTo: files[1]), FileHandle(forWritingTo: files[2])]
        defer { for handle in handles { try? handle.close() } }
        process.standardInput = handles[0]
        process.standardOutput = handles[1]
        process.standardError = handles[2]
        try process.run()
        process.waitUntilExit()
        let read = { (url: URL) in String(decoding: (try? Data(contentsOf: url)) ?? Data(), as: UTF8.self) }
        return Result(status: process.terminationStatus, output: read(files[1]), error: read(files[2]))
    }

    /// A process for `program` (a path, or a name looked up on PATH) with `arguments`; the test's own
    /// environment when `environment` is nil.
    static func makeProcess(_ program: String, _ arguments: [String], environment: [String: String]?) -> Process {
        let process = Process()
        if program.contains("/") {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
        }
        if let environment { process.environment = environment }
        return process
    }
}
