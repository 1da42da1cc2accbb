import Foundation
import Logging
import TestSupport
import Testing

@testable import Gateway

/// The test command's PostgreSQL (`RG_POSTGRES_URL`, a superuser on loopback): a fresh database per use.
enum TestPostgres {
    /// The server's URL, or nil when the tests run without one (a filtered run outside `scripts/test`).
    static var url: String? { ProcessInfo.processInfo.environment["RG_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// A new, empty database on the test server; its URL.
    static func freshDatabaseURL() throws -> String {
        guard let url else { throw TestServerMissing(description: "RG_POSTGRES_URL is not set: run the tests with scripts/test") }
        let name = "rg_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let created = try ChildProcess.run("psql", [url, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE \(name)"])
        guard created.status == 0 else { throw TestServerMissing(description: "cannot create a test database: \(created.error)") }
        guard let slash = url.lastIndex(of: "/") else { throw TestServerMissing(description: "RG_POSTGRES_URL has no database") }
        return url[..<slash] + "/" + name
    }

    /// A fresh database opened as `node`.
    static func open(node: String = "node-a") async throws -> PostgresDatabase {
        try await PostgresDatabase.open(url: DatabaseURL(try freshDatabaseURL()), nodeId: node, logger: Logger(label: "postgres-test"))
    }
}
