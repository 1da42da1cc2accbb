public import Foundation

/// How queued uploads are shown on the command line (text and JSON); never a secret.
public enum QueuePresentation {
    public static func timestamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// The upload as a JSON object (see `QueuedUploadView`).
    public static func object(_ entry: QueuedUpload) -> [String: Any] { JSONObject.dictionary(QueuedUploadView(entry)) }

    public static func json(_ object: Any) -> String { JSONObject.text(object) }

    /// One line for `queue list`.
    public static func line(_ entry: QueuedUpload) -> String {
        var line = "\(entry.id ?? 0)  \(entry.state.rawValue)  \(entry.accountId)  \(entry.objectKey)  \(entry.size) B  attempts \(entry.attempts)"
        if entry.state == .pending { line += "  next \(timestamp(entry.nextAttemptAt))" }
        if let node = entry.nodeId { line += "  node \(node)" }
        if let error = entry.lastError, entry.state != .stored { line += "  last error: \(error)" }
        return line
    }

    public static func text(_ entry: QueuedUpload) -> String {
        """
        queue id:      \(entry.id ?? 0)
        node:          \(entry.nodeId ?? "-")
        state:         \(entry.state.rawValue)
        account:       \(entry.accountId)
        key:           \(entry.objectKey)
        request path:  \(entry.requestPath)
        size:          \(entry.size) bytes
        checksum:      \(entry.checksum)
        spool file:    \(entry.spoolFile)
        attempts:      \(entry.attempts)
        next attempt:  \(timestamp(entry.nextAttemptAt))
        last error:    \(entry.lastError ?? "-")
        created:       \(timestamp(entry.createdAt))
        updated:       \(timestamp(entry.updatedAt))
        """
    }
}

/// A queued upload as operators see it in JSON (the command line's `--json`, the admin API).
public struct QueuedUploadView: Encodable, Sendable {
    public var id: Int64
    @ExplicitNull public var nodeId: String?
    public var accountId: String
    public var key: String
    public var requestPath: String
    public var spoolFile: String
    public var size: Int
    public var checksum: String
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: String
    @ExplicitNull public var lastError: String?
    public var createdAt: String
    public var updatedAt: String

    public init(_ entry: QueuedUpload) {
        id = entry.id ?? 0
        nodeId = entry.nodeId
        accountId = entry.accountId
        key = entry.objectKey
        requestPath = entry.requestPath
        spoolFile = entry.spoolFile
        size = entry.size
        checksum = entry.checksum
        state = entry.state.rawValue
        attempts = entry.attempts
        nextAttemptAt = QueuePresentation.timestamp(entry.nextAttemptAt)
        lastError = entry.lastError
        createdAt = QueuePresentation.timestamp(entry.createdAt)
        updatedAt = QueuePresentation.timestamp(entry.updatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case id
        case nodeId = "node_id"
        case accountId = "account_id"
        case key
        case requestPath = "request_path"
        case spoolFile = "spool_file"
        case size, checksum, state, attempts
        case
            nextAttemptAt = "next_attempt_at"
        case lastError = "last_error"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}
