import Foundation
import Hummingbird
import Spool

/// `/readyz`: the database answers, the data directory is writable, and the spool (when on) is
/// writable with free space above `spool_min_free_bytes` and room under `spool_quota_bytes`.
struct HealthCheck: Sendable {
    let storage: any GatewayStorage
    let dataDirectory: String
    let ledger: RecordingLedger

    func spoolReport() -> [String: Any] {
        let status = ledger.spool.status()
        return [
            "enabled": status.enabled, "writable": status.writable, "free_bytes": status.freeBytes,
            "min_free_bytes": status.minimumFreeBytes, "used_bytes": status.usedBytes, "quota_bytes": status.quotaBytes,
            "waiting_objects": ledger.waitingCount,
        ]
    }

    func problems() async -> [String] {
        var problems: [String] = []
        do {
            try await storage.ping()
        } catch {
            problems.append("database: \(error)")
        }
        if !FileManager.default.isWritableFile(atPath: dataDirectory) { problems.append("data directory \(dataDirectory) is not writable") }
        if let problem = ledger.spool.status().problem { problems.append("spool: \(problem)") }
        return problems
    }

    static func answer(ok: Bool, _ object: [String: Any]) -> Response {
        JSONResponse.make(ok ? .ok : .serviceUnavailable, object)
    }
}
