public import Foundation

/// curl (installed by ./scripts/test), the one way tests run it: silent but for errors.
public enum Curl {
    /// Runs curl with `arguments`; `-w` output comes back as `output`.
    public static func run(_ arguments: [String]) throws -> ChildProcess.Result {
        try ChildProcess.run("curl", ["--silent", "--show-error"] + arguments)
    }

    public struct Response: Sendable {
        public var status: Int
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request exactly as given (`--path-as-is` and `--globoff` keep every byte of a signed URL
    /// as signed) and returns its status and body.
    public static func request(_ arguments: [String]) throws -> Response {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try run(["--path-as-is", "--globoff", "--output", output.path, "--write-out", "%{http_code}"] + arguments)
        guard run.status == 0, let code = Int(run.output) else { throw CurlError(description: "curl exited \(run.status)") }
        return Response(status: code, body: (try? Data(contentsOf: output)) ?? Data())
    }

    public struct CurlError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }
}

/// Runs blocking work (a child process, a raw socket) on a thread of its own. Swift's cooperative
/// pool has one thread per core: a test blocking two of them while waiting for the in-process gateway
/// would starve the gateway it waits for.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do {
                continuation.resume(returning: try work())
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}
