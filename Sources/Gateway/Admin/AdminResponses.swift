import Foundation
public import Hummingbird

/// The admin API's answers: JSON objects, keys as the page and the command line read them.

/// `GET /api/status`.
struct StatusAnswer: ResponseEncodable {
    struct MemoryBudget: Encodable {
        var inUseBytes: Int
        var capacityBytes: Int
        enum CodingKeys: String, CodingKey {
            case inUseBytes = "in_use_bytes"
            case capacityBytes = "capacity_bytes"
        }
    }

    /// How fast the queue drains (`QueueSnapshot`): the same figures as `/metrics` and `queue list`.
    struct Replays: Encodable {
        var perSecond: Double
        /// Seconds until the queue is empty at the recent rate; `null` when nothing landed lately.
        @ExplicitNull var estimatedDrainSeconds: Double?
        var summary: String
        enum CodingKeys: String, CodingKey {
            case perSecond = "per_second"
            case estimatedDrainSeconds = "estimated_drain_seconds"
            case summary
        }
    }

    var version: String
    var uptimeSeconds: Int64
    var accounts: Int
    var memoryBudget: MemoryBudget
    /// Rows by state; `stored` rows are history, not depth, and count 0.
    var queue: [String: Int]
    var replays: Replays

    enum CodingKeys: String, CodingKey {
        case version
        case uptimeSeconds = "uptime_seconds"
        case accounts
        case memoryBudget = "memory_budget"
        case queue
        case replays
    }
}

/// An account as the page lists it: its settings, when it last stored, its uploads waiting by state,
/// and why its replays are paused (or `null`).
struct AccountSummary: ResponseEncodable {
    var account: AccountView
    var replaysPaused: String?
    var lastStoreAt: String?
    var queue: [String: Int]

    enum CodingKeys: String, CodingKey {
        case replaysPaused = "replays_paused"
        case lastStoreAt = "last_store_at"
        case queue
    }

    func encode(to encoder: any Encoder) throws {
        try account.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replaysPaused, forKey: .replaysPaused)
        try container.encode(lastStoreAt, forKey: .lastStoreAt)
        try container.encode(queue, forKey: .queue)
    }
}

struct AccountListAnswer: ResponseEncodable {
    var accounts: [AccountSummary]
}

extension AccountView: ResponseEncodable {}
extension IssuedAccountView: ResponseEncodable {}

struct RemovedAnswer: ResponseEncodable {
    var removed: String
}

/// `POST /api/accounts/ID/verify`: the connection check's lines.
struct VerifyAnswer: ResponseEncodable {
    struct Line: Encodable {
        var status: String
        var check: String
        var message: String
    }

    var passed: Bool
    var lines: [Line]
}

/// `GET /api/queue`.
/// At most `limit` rows (default `defaultLimit`, at most `maximumLimit`): the queue keeps every stored row, so
/// without a bound one answer grew with the gateway's whole history (the 30-minute soak's heap grew with it, about
/// 660 bytes of JSON a row and several times that while it was built). `more`: rows were left out.
struct QueueAnswer: ResponseEncodable {
    static let defaultLimit = 1_000
    static let maximumLimit = 10_000
    var uploads: [QueuedUploadView]
    var more: Bool
    var pausedAccounts: [String: String]
    enum CodingKeys: String, CodingKey {
        case uploads
        case more
        case pausedAccounts = "paused_accounts"
    }
}

/// `POST /api/queue/retry`.
struct RetryAnswer: ResponseEncodable {
    var dueNow: Int
    enum CodingKeys: String, CodingKey { case dueNow = "due_now" }
}
