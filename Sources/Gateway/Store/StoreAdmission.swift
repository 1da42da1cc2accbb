import S3

/// Who may store now: each store reading its body holds one of `max_concurrent_stores` slots, and with it
/// the memory its connection may hold on the way in (`GatewayMemory`). A store that cannot have a slot
/// within `admission_timeout_seconds` is answered 503 with `Retry-After` before its body is read (and
/// before `100 Continue`), so KAZOO sends it again later.
struct StoreAdmission: Sendable {
    let memory: GatewayMemory
    let timeout: Duration

    /// Waits for a slot; false when none came free in time.
    func enter() async throws -> Bool { try await memory.storeSlots.acquire(1, within: timeout) }

    func leave() { memory.storeSlots.release(1) }

    /// The answer to a store that found no room in time.
    func busy() -> GatewayError {
        GatewayError(
            .serviceUnavailable,
            "busy",
            "the gateway is at its limit of \(memory.storeSlots.capacity) concurrent stores; nothing was stored, send it again",
            retryAfterSeconds: 5
        )
    }
}
