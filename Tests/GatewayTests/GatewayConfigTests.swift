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
