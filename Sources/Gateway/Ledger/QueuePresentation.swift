import Foundation

/// How queued uploads are shown on the command line (text and JSON); never a secret.
public enum QueuePresentation {
    static func timestamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    public static func object(_ entry: QueuedUpload) -> [String: Any] {
        [
            "id": entry.id ?? 0, "account_id": entry.accountId, "key": entry.objectKey, "request_path": entry.requestPath,
            "spool_file": entry.spoolFile, "size": entry.size, "checksum": entry.checksum, "state": entry.state.rawValue,
            "attempts": entry.attempts, "next_attempt_at": timestamp(entry.nextAttemptAt), "last_error": entry.lastError ?? NSNull(),
            "created_at": timestamp(entry.createdAt), "updated_at": timestamp(entry.updatedAt),
        ]
    }

    public static func json(_ object: Any) -> String { AccountPresentation.json(object) }

    /// One line for `queue list`.
    public static func line(_ entry: QueuedUpload) -> String {
        var line = "\(entry.id ?? 0)  \(entry.state.rawValue)  \(entry.accountId)  \(entry.objectKey)  \(entry.size) B  attempts \(entry.attempts)"
        if entry.state == .pending { line += "  next \(timestamp(entry.nextAttemptAt))" }
        if let error = entry.lastError, entry.state != .stored { line += "  last error: \(error)" }
        return line
    }

    public static func text(_ entry: QueuedUpload) -> String {
        """
        queue id:      \(entry.id ?? 0)
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
