/// The life of one recording in the gateway, as a table of state → event → state. `RecordingLedger`
/// checks every change it makes against it; nothing else changes a recording's state.
///
/// ```
/// received  --s3Confirmed-->   stored      (201: index row)
/// received  --spooled-->       pending     (202: durable spool file, queue row and index row)
/// received  --abandoned-->     refused     (4xx/5xx: nothing kept, the client sends it again)
/// pending   --claimed-->       replaying
/// replaying --replayed-->      stored      (spool file removed)
/// replaying --deferred-->      pending     (S3 down: after a backoff)
/// replaying --paused-->        pending     (the account's credentials or bucket refused: breaker open)
/// replaying --failedForGood--> failed      (the spool file failed its integrity check)
/// replaying --interrupted-->   pending     (the gateway stopped or died mid-replay)
/// pending, failed --retried--> pending     (due now: an operator, or the account changed)
/// any kept state --discarded--> discarded  (the operator destroyed the row and its spool file)
/// ```
public enum RecordingLifecycle {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case received, stored, pending, replaying, failed, refused, discarded
    }

    public enum Event: String, Sendable, Hashable, CaseIterable {
        case s3Confirmed, spooled, abandoned, claimed, replayed, deferred, paused, failedForGood, interrupted, retried, discarded
    }

    /// The state after `event`, or nil when `event` cannot happen in `state`.
    public static func next(from state: State, on event: Event) -> State? {
        switch (state, event) {
        case (.received, .s3Confirmed): .stored
        case (.received, .spooled): .pending
        case (.received, .abandoned): .refused
        case (.pending, .claimed): .replaying
        case (.replaying, .replayed): .stored
        case (.replaying, .deferred), (.replaying, .paused), (.replaying, .interrupted): .pending
        case (.replaying, .failedForGood): .failed
        case (.pending, .retried), (.failed, .retried): .pending
        case (.pending, .discarded), (.replaying, .discarded), (.failed, .discarded), (.stored, .discarded): .discarded
        default: nil
        }
    }

    /// A queue row's state in the lifecycle.
    public static func state(of row: QueuedUpload.State) -> State {
        switch row {
        case .pending: .pending
        case .uploading: .replaying
        case .stored: .stored
        case .failed: .failed
        }
    }
}

/// A change the lifecycle does not allow (a programming error, reported instead of applied).
public struct LifecycleError: Error, Sendable, CustomStringConvertible {
    public let state: RecordingLifecycle.State
    public let event: RecordingLifecycle.Event
    public var description: String { "a recording in state \(state.rawValue) cannot be \(event.rawValue)" }
}
