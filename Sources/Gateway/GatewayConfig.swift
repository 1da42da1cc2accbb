import Foundation
import S3

/// The gateway's configuration file (`config.example.json` documents every key).
/// Keys are snake_case; every key is optional and falls back to the default shown in the example.
public struct GatewayConfig: Sendable, Equatable, Codable {
    /// `HOST:PORT` the KAZOO-facing HTTP server listens on.
    public var listen: String = "0.0.0.0:8080"
    /// The URL KAZOO reaches the gateway at; printed storage URLs start with it.
    public var publicBaseURL: String = "http://recordings.example.com:8080"
    /// Where the SQLite database, the spool and the master key live.
    public var dataDir: String = "./data"
    /// Bytes buffered for all uploads together.
    public var memoryBudgetBytes: Int = 256 * 1024 * 1024
    /// Multipart part size (at least 5 MiB).
    public var partSizeBytes: Int = 8 * 1024 * 1024
    /// Parts in flight per upload.
    public var parallelParts: Int = 4
    /// `text` or `json`.
    public var logFormat: String = "text"
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
    public var logLevel: String = "info"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen
        case publicBaseURL = "public_base_url"
        case dataDir = "data_dir"
        case memoryBudgetBytes = "memory_budget_bytes"
        case partSizeBytes = "part_size_bytes"
        case parallelParts = "parallel_parts"
        case logFormat = "log_format"
        case logLevel = "log_level"
    }

    public init(from decoder: any Decoder) throws {
        let defaults = GatewayConfig()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? defaults.listen
        publicBaseURL = try container.decodeIfPresent(String.self, forKey: .publicBaseURL) ?? defaults.publicBaseURL
        dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir) ?? defaults.dataDir
        memoryBudgetBytes = try container.decodeIfPresent(Int.self, forKey: .memoryBudgetBytes) ?? defaults.memoryBudgetBytes
        partSizeBytes = try container.decodeIfPresent(Int.self, forKey: .partSizeBytes) ?? defaults.partSizeBytes
        parallelParts = try container.decodeIfPresent(Int.self, forKey: .parallelParts) ?? defaults.parallelParts
        logFormat = try container.decodeIfPresent(String.self, forKey: .logFormat) ?? defaults.logFormat
        logLevel = try container.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
    }

    /// Reads and validates a configuration file.
    public static func load(path: String) throws(ConfigError) -> GatewayConfig {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigError("configuration file \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("configuration file \(path) cannot be read (check its permissions)")
        }
        let config: GatewayConfig
        do {
            config = try JSONDecoder().decode(GatewayConfig.self, from: data)
        } catch {
            throw ConfigError("configuration file \(path) is not valid: \(error)")
        }
        try config.validate()
        return config
    }

    /// Refuses values the gateway cannot run with, naming the key.
    public func validate() throws(ConfigError) {
        guard partSizeBytes >= 5 * 1024 * 1024 else {
            throw ConfigError("part_size_bytes must be at least 5 MiB (5242880): S3 refuses smaller parts")
        }
        guard parallelParts >= 1 else { throw ConfigError("parallel_parts must be at least 1") }
        let charge = MultipartUploader.bufferCharge(forPartSize: partSizeBytes)
        guard memoryBudgetBytes >= charge else {
            throw ConfigError("memory_budget_bytes must hold at least one part buffer (\(charge) bytes for part_size_bytes \(partSizeBytes))")
        }
        guard ["text", "json"].contains(logFormat) else { throw ConfigError("log_format must be \"text\" or \"json\"") }
    }
}

/// A configuration problem, said so that an operator can fix it.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
