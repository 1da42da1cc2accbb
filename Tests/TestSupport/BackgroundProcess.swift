public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A program a test starts and stops itself (a private S3 server, the gateway's own `serve`): its
/// output goes to a file, and it is stopped by its PID — SIGTERM, or SIGKILL to simulate a crash.
public final class BackgroundProcess: @unchecked Sendable {
    public let process: Process
    public let logPath: String

    /// Starts `program` (a path, or a name looked up on PATH) with `arguments`.
    public init(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        logPath = NSTemporaryDirectory() + "rg-process-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process = ChildProcess.makeProcess(program, arguments, environment: environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
    }

    public var pid: Int32 { process.processIdentifier }
    public var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` to the process (by PID) and waits for it to end; returns its exit status.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(pid, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        unlink(logPath)
    }

    /// A TCP port free right now on 127.0.0.1.
    public static func freePort() -> Int {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socketDescriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, length) == 0 && getsockname(socketDescriptor, $0, &length) == 0
            }
        }
        return bound ? Int(UInt16(bigEndian: address.sin_port)) : 0
    }

    /// Waits until something accepts connections on `port` (up to `seconds`).
    public static func waitForPort(_ port: Int, seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if isListening(port) { return true }
            usleep(50_000)
        }
        return false
    }

    /// Whether something accepts TCP connections on the loopback `port` now.
    public static func isListening(_ port: Int) -> Bool { (try? RawConnection(port: port)) != nil }
}

/// A private moto server (no IAM enforcement) whose bucket exists before it accepts connections;
/// stopping and starting it again on the same port gives an empty bucket of the same name.
public final class PrivateMoto: @unchecked Sendable {
    public let port: Int
    public let bucket: String
    private var server: BackgroundProcess?

    public init(bucket: String = "rg-private") {
        port = BackgroundProcess.freePort()
        self.bucket = bucket
    }

    public var host: String { "127.0.0.1:\(port)" }
    public var isRunning: Bool { server != nil }

    public static var script: String { TestServers.script("moto-with-bucket.py") }

    /// Starts it (blocking until it accepts connections).
    public func start() throws {
        let server = try BackgroundProcess("python3", [Self.script, "\(port)", bucket])
        guard BackgroundProcess.waitForPort(port) else {
            throw TestServerMissing(description: "private moto did not start: \(server.output)")
        }
        self.server = server
    }

    /// Stops it (by PID): S3 is down.
    public func stop() {
        server?.stop(signal: SIGKILL)
        server = nil
    }

    deinit { server?.stop(signal: SIGKILL) }
}
