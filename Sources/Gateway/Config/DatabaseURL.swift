public import Foundation

/// `database_url`: where several gateways keep their shared state, PostgreSQL:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, with `?sslmode=` for TLS as libpq means it (`disable`, the default;
/// `require`: encrypted, the server's certificate not checked; `verify-full`: encrypted, the certificate checked
/// against the system's trusted roots and the host name) and `?host=/path` for a Unix socket directory. Its
/// description never shows the password.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    /// A host name or address; nil with a Unix socket.
    public var host: String?
    public var port: Int
    /// The socket file (`DIRECTORY/.s.PGSQL.PORT`) when `?host=` names a directory.
    public var socketPath: String?
    public var database: String
    public var tls: TLSMode

    public init(_ text: String) throws(ConfigError) {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw ConfigError("database_url must look like postgres://USER[:PASSWORD]@HOST[:PORT]/DB")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw ConfigError("database_url must name a user: postgres://USER@HOST/DB")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ConfigError("database_url must name one database: postgres://USER@HOST/DB")
        }
        var tls = TLSMode.disable
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw ConfigError("database_url: sslmode must be disable, require or verify-full")
                }
                tls = mode
            case "host":
                guard let path = item.value, path.hasPrefix("/") else {
                    throw ConfigError("database_url: ?host= must be the directory of PostgreSQL's Unix socket (an absolute path)")
                }
                socketDirectory = path
            default:
                throw ConfigError("database_url: unknown parameter \"\(item.name)\" (sslmode and host are understood)")
            }
        }
        self.user = user
        self.password = components.percentEncodedPassword?.removingPercentEncoding
        self.port = components.port ?? 5432
        self.database = database
        self.tls = tls
        if let socketDirectory {
            host = nil
            socketPath = socketDirectory + "/.s.PGSQL.\(port)"
        } else {
            guard let host = components.host, !host.isEmpty else {
                throw ConfigError("database_url must name a host (or ?host=/socket/directory)")
            }
            self.host = host
            socketPath = nil
        }
    }

    /// The URL with its password replaced: safe for logs and errors.
    public var description: String {
        let password = password == nil ? "" : ":***"
        let place = socketPath.map { "?host=" + (($0 as NSString).deletingLastPathComponent) } ?? ""
        return "postgres://\(user)\(password)@\(host ?? "")\(host == nil ? "" : ":\(port)")/\(database)\(place)"
            + (tls == .disable ? "" : (place.isEmpty ? "?" : "&") + "sslmode=\(tls.rawValue)")
    }
}
