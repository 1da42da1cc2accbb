import Foundation
import Logging
import ServiceLifecycle

/// At start and every `interval`: deletes the queue rows of recordings S3 took from the spool more than
/// `queue_history_days` ago (`RecordingLedger.forgetStored`). Without it every outage's rows stayed for good:
/// `queue list` and start-up recovery read them, and the database only grew. Several gateways may all run it;
/// a row deleted twice is deleted once.
struct QueueHistoryPruner: Service {
    let ledger: RecordingLedger
    /// How long a stored row stays listed.
    let keep: TimeInterval
    var interval: Duration = .seconds(3600)
    let logger: Logger

    init(ledger: RecordingLedger, historyDays: Int, logger: Logger) {
        self.ledger = ledger
        self.keep = TimeInterval(historyDays) * 86_400
        self.logger = logger
    }

    func run() async throws {
        await prune()
        await repeatEvery(interval) { await prune() }
    }

    /// One pass; a database that fails is logged and tried again at the next one.
    func prune() async {
        do {
            let forgotten = try await ledger.forgetStored(olderThan: keep)
            if forgotten > 0 {
                logger.info("forgot the queue's stored rows past their history", metadata: ["rows": "\(forgotten)", "days": "\(Int(keep / 86_400))"])
            }
        } catch {
            logger.warning("could not forget the queue's old stored rows", metadata: ["error": "\(error)"])
        }
    }
}
