import NIOConcurrencyHelpers
import Synchronization

/// Which recordings wait in the spool (S3 failed when they were stored) and in which file, so fetches
/// can be served from it during an outage. Only `RecordingLedger` changes it.
final class SpoolWaitingList: Sendable {
    struct Key: Hashable {
        var accountId: String
        var objectKey: String
    }

    /// A recording waiting in the spool: its newest spool file and size.
    struct Waiting: Sendable, Hashable {
        var file: String
        var size: Int
    }

    private let waiting = NIOLockedValueBox<[Key: Waiting]>([:])
    private let waitingCount = Atomic<Int>(0)

    var count: Int { waitingCount.load(ordering: .relaxed) }

    func mark(accountId: String, key: String, _ object: Waiting) {
        waiting.withLockedValue { waiting in
            if waiting.updateValue(object, forKey: Key(accountId: accountId, objectKey: key)) == nil {
                waitingCount.add(1, ordering: .relaxed)
            }
        }
    }

    /// Forgets `file` (uploaded, or gone); a newer spool file of the same key stays.
    func forget(accountId: String, key: String, file: String) {
        waiting.withLockedValue { waiting in
            let key = Key(accountId: accountId, objectKey: key)
            if waiting[key]?.file == file {
                waiting[key] = nil
                waitingCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    func object(accountId: String, key: String) -> Waiting? {
        guard count > 0 else { return nil }
        return waiting.withLockedValue { $0[Key(accountId: accountId, objectKey: key)] }
    }
}
