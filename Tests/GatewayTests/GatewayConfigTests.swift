import Foundation
import Gateway
import Testing

struct GatewayConfigTests {
    static let exampleConfig = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config.example.json").path

    @Test func exampleConfigHoldsTheDefaults() throws {
        let config = try GatewayConfig.load(path: Self.exampleConfig)
        #expect(config == GatewayConfig())
    }

    @Test func missingKeysFallBackToDefaults() throws {
        let config = try JSONDecoder().decode(GatewayConfig.self, from: Data(#"{"listen": "127.0.0.1:9000"}"#.utf8))
        #expect(config.listen == "127.0.0.1:9000")
        #expect(config.partSizeBytes == 8 * 1024 * 1024)
    }

    @Test func tooSmallPartSizeIsRefusedNamingTheKey() throws {
        var config = GatewayConfig()
        config.partSizeBytes = 1024
        #expect(throws: ConfigError.self) { try config.validate() }
        do {
            try config.validate()
        } catch {
            #expect(error.description.contains("part_size_bytes"))
        }
    }

    @Test func unreadableFileIsAClearError() {
        do {
            _ = try GatewayConfig.load(path: "/nonexistent/config.json")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("/nonexistent/config.json"))
        }
    }
}

struct GatewayConfigValidationTests {
    @Test func unknownKeysAndBadValuesAreRefusedNamingTheKey() {
        func message(_ json: String) -> String {
            do {
                _ = try GatewayConfig.parse(Data(json.utf8))
                return ""
            } catch {
                return error.description
            }
        }
        #expect(message(#"{"listn": "0.0.0.0:1"}"#).contains("listn"))
        #expect(message(#"{"listen": "nope"}"#).contains("listen"))
        #expect(message(#"{"presign_expiry_seconds": 0}"#).contains("presign_expiry_seconds"))
        #expect(message(#"{"tls_certificate_file": "/a.pem"}"#).contains("tls_key_file"))
        #expect(message(#"{"public_base_url": "gw.example.com"}"#).contains("public_base_url"))
        #expect(message(#"{"s3_ca_file": "/nonexistent/ca.pem"}"#).contains("s3_ca_file"))
        #expect(message(#"{"s3_ca_file": "/etc/hostname"}"#).contains("PEM"))
        #expect(message(#"{"parallel_parts": "four"}"#).contains("parallel_parts"))
        #expect(message(#"{"log_level": "loud"}"#).contains("log_level"))
        #expect(message(#"{"max_request_bytes": 1000}"#).isEmpty)
        #expect(message(#"{"queue_history_days": 0}"#).contains("queue_history_days"))
        #expect(message(#"{"queue_history_days": 100000}"#).contains("queue_history_days"))
        #expect(message(#"{"queue_history_days": 1}"#).isEmpty)
    }

    @Test func databaseURLsAreReadWithTheirTLSAndSocketAndNeverShowTheirPassword() throws {
        let url = try DatabaseURL("postgres://recgw:s3cr%40t@db.internal:6543/recordings?sslmode=require")
        #expect(url.user == "recgw" && url.password == "s3cr@t" && url.host == "db.internal" && url.port == 6543)
        #expect(url.database == "recordings" && url.tls == .require && url.socketPath == nil)
        #expect(!url.description.contains("s3cr") && url.description.contains("recgw:***@db.internal:6543/recordings"))
        let socket = try DatabaseURL("postgresql://recgw@/recordings?host=/var/run/postgresql")
        #expect(socket.socketPath == "/var/run/postgresql/.s.PGSQL.5432" && socket.host == nil && socket.password == nil)
        for (bad, says) in [
            ("mysql://u@h/db", "postgres://"), ("postgres://h/db", "user"), ("postgres://u@h/", "one database"),
            ("postgres://u@h/db?sslmode=maybe", "sslmode"), ("postgres://u@h/db?host=relative", "absolute"), ("postgres://u@h/db?x=1", "unknown"),
        ] {
            let error = #expect(throws: ConfigError.self, "\(bad)") { _ = try DatabaseURL(bad) }
            #expect(error?.description.contains(says) == true, "\(bad): \(String(describing: error))")
        }
        var config = GatewayConfig()
        config.databaseURL = "postgres://nobody"
        #expect(throws: ConfigError.self) { try config.validate() }
        config.databaseURL = nil
        config.nodeId = "gw 1"
        #expect(throws: ConfigError.self) { try config.validate() }
    }
}
