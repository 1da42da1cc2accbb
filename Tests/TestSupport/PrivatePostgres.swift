import Foundation

/// A PostgreSQL server of a test's own (one the test may stop and start again): Debian's binaries, run as the
/// `postgres` user (PostgreSQL will not run as root) on a data directory of its own and a free loopback port,
/// trust authentication for the superuser `rg`. Stopped by PID; the directory goes with it.
public final class PrivatePostgres: @unchecked Sendable {
    public let port = BackgroundProcess.freePort()
    public let directory: String
    private var server: BackgroundProcess?

    /// Whether it takes TLS connections (a self-signed certificate for `localhost`).
    public let tls: Bool

    public init(tls: Bool = false) throws {
        self.tls = tls
        directory = try Self.temporaryDirectory()
        let initdb = try ChildProcess.run(
            "setpriv",
            Self.asPostgres + [try Self.binary("initdb"), "-D", directory + "/data", "-U", "rg", "--auth=trust"]
        )
        guard initdb.status == 0 else { throw TestServerMissing(description: "initdb failed: \(initdb.output)\(initdb.error)") }
        if tls {
            let made = try ChildProcess.run(
                "setpriv",
                Self.asPostgres + [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", directory + "/server.key", "-out", directory + "/server.crt",
                ]
            )
            guard made.status == 0 else { throw TestServerMissing(description: "openssl failed: \(made.error)") }
        }
        try start()
    }

    deinit {
        _ = server?.stop(signal: SIGINT)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `postgres://rg@127.0.0.1:PORT/DATABASE`.
    public func url(database: String = "postgres") -> String { "postgres://rg@127.0.0.1:\(port)/\(database)" }

    public func start() throws {
        let started = try BackgroundProcess(
            "setpriv",
            Self.asPostgres + [
                try Self.binary("postgres"), "-D", directory + "/data", "-p", "\(port)", "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_directories=\(directory)",
            ] + (tls ? ["-c", "ssl=on", "-c", "ssl_cert_file=\(directory)/server.crt", "-c", "ssl_key_file=\(directory)/server.key"] : [])
        )
        server = started
        guard BackgroundProcess.waitForPort(port) else { throw TestServerMissing(description: "postgres did not start: \(started.output)") }
    }

    /// Stops the server (fast shutdown: sessions are cut, as when the database dies).
    public func stop() {
        _ = server?.stop(signal: SIGINT)
        server = nil
    }

    /// Runs SQL as the superuser.
    public func sql(_ statement: String, database: String = "postgres") throws {
        let run = try ChildProcess.run("psql", [url(database: database), "-v", "ON_ERROR_STOP=1", "-qc", statement])
        guard run.status == 0 else { throw TestServerMissing(description: "psql failed: \(run.error)") }
    }

    static let asPostgres = ["--reuid=postgres", "--regid=postgres", "--clear-groups"]

    static func binary(_ name: String) throws -> String {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw TestServerMissing(description: "PostgreSQL is not installed (run ./scripts/test, which installs it)")
        }
        return "/usr/lib/postgresql/\(version)/bin/\(name)"
    }

    /// A directory the postgres user owns.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "rg-postgres-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let chown = try ChildProcess.run("chown", ["postgres", path])
        guard chown.status == 0 else { throw TestServerMissing(description: "cannot give \(path) to the postgres user: \(chown.error)") }
        return path
    }
}
