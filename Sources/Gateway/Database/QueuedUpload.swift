public import Foundation

/// One spooled upload in the durable retry queue: its spool file, what it becomes in S3, and where
/// its replay stands. States: `pending` (waiting for `nextAttemptAt`), `uploading` (a replay has it),
/// `stored` (confirmed by S3; the spool file may go), `failed` (not retried without an operator, e.g.
/// a spool file that failed its integrity check). `RecordingLifecycle` says which changes are allowed.
public struct QueuedUpload: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case pending, uploading, stored, failed
    }

    public var id: Int64?
    /// The node whose spool holds the file (several gateways on one PostgreSQL); nil on SQLite (one node).
    public var nodeId: String?
    public var accountId: String
    public var objectKey: String
    public var requestPath: String
    public var spoolFile: String
    public var size: Int
    public var checksum: String
    public var state: State
    public var attempts: Int
    public var nextAttemptAt: Date
    /// Operator-facing, never a secret.
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: Int64? = nil,
        nodeId: String? = nil,
        accountId: String,
        objectKey: String,
        requestPath: String,
        spoolFile: String,
        size: Int,
        checksum: String,
        state: State = .pending,
        attempts: Int = 0,
        nextAttemptAt: Date,
        lastError: String?,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.nodeId = nodeId
        self.accountId = accountId
        self.objectKey = objectKey
        self.requestPath = requestPath
        self.spoolFile = spoolFile
        self.size = size
        self.checksum = checksum
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// The queue as `/metrics`, `/api/status` and `queue list` show it: rows by state, the oldest pending row's
/// age, the paused accounts, and how fast replays land (rows stored in the last `rateWindow`).
public struct QueueSnapshot: Sendable, Hashable {
    /// The window replays per second are counted over.
    public static let rateWindow: TimeInterval = 10

    public var counts: [QueuedUpload.State: Int]
    public var oldestPendingAge: Double?
    public var paused: Set<String>
    /// Rows stored in the last `rateWindow`.
    public var recentlyReplayed: Int

    public init(counts: [QueuedUpload.State: Int], oldestPendingAge: Double?, paused: Set<String>, recentlyReplayed: Int) {
        self.counts = counts
        self.oldestPendingAge = oldestPendingAge
        self.paused = paused
        self.recentlyReplayed = recentlyReplayed
    }

    /// From what a storage read: rows by state name (unknown names ignored), the oldest pending row's creation.
    init(rowsByState: [(state: String, count: Int)], oldestPending: Date?, paused: Set<String>, recentlyReplayed: Int, now: Date) {
        var counts: [QueuedUpload.State: Int] = [:]
        for (name, count) in rowsByState {
            if let state = QueuedUpload.State(rawValue: name) { counts[state] = count }
        }
        self.init(
            counts: counts,
            oldestPendingAge: oldestPending.map { now.timeIntervalSince($0) },
            paused: paused,
            recentlyReplayed: recentlyReplayed
        )
    }

    /// Rows waiting for S3: pending and uploading (failed ones wait for an operator).
    public var depth: Int { (counts[.pending] ?? 0) + (counts[.uploading] ?? 0) }

    /// Replays landed per second, over the last `rateWindow`.
    public var replaysPerSecond: Double { Double(recentlyReplayed) / Self.rateWindow }

    /// Seconds until the queue is empty at the recent rate: 0 when it is empty, nil when nothing landed
    /// lately (no estimate).
    public var estimatedDrainSeconds: Double? {
        guard depth > 0 else { return 0 }
        guard recentlyReplayed > 0 else { return nil }
        return Double(depth) / replaysPerSecond
    }

    /// One line for people: depth, rate and the estimate.
    public var drainSummary: String {
        let rate = String(format: "%.1f", replaysPerSecond)
        let eta = estimatedDrainSeconds.map { "empty in about \(Int($0.rounded(.up))) s" } ?? "no replay landed in the last \(Int(Self.rateWindow)) s"
        return "\(depth) waiting for S3, \(rate) replays/s, \(eta)"
    }
}
