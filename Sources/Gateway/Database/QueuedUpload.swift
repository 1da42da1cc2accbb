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

/// The queue as `/metrics` and `/api/status` show it: rows by state, the oldest pending row's age,
/// the paused accounts.
public struct QueueSnapshot: Sendable, Hashable {
    public var counts: [QueuedUpload.State: Int]
    public var oldestPendingAge: Double?
    public var paused: Set<String>
}
