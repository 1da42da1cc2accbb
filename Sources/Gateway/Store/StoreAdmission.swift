import S3

/// Who may store now: each store reading its body holds one of `max_concurrent_stores` slots, and with it
/// the memory its connection may hold on the way in (`GatewayMemory`). A store that cannot have a slot
/// within `admission_timeout_seconds` is answered 503 with `Retry-After` before its body is read (and
/// before `100 Continue`), so KAZOO sends it again later. A fetch whose bytes pass through the gateway (proxied
/// from S3, or read from the spool) holds a slot too while its body streams: its buffers on the way out are
/// of the same size as a store's on the way in.
/// Each one counts as live traffic (`LiveTraffic`) from its request for a slot to the slot's return.
struct StoreAdmission: Sendable {
    let memory: GatewayMemory
    let timeout: Duration
    let traffic: LiveTraffic

    /// Waits for a slot; nil when none came free in time. The slot is given back when the last reference to
    /// it goes: a store keeps it to its end, a streamed answer's body until it is written (or dropped unwritten).
    func slot() async throws -> Slot? {
        traffic.began()
        do {
            guard try await memory.storeSlots.acquire(1, within: timeout) else {
                traffic.ended()
                return nil
            }
        } catch {
            traffic.ended()
            throw error
        }
        return Slot(slots: memory.storeSlots, traffic: traffic)
    }

    final class Slot: Sendable {
        let slots: MemoryBudget
        let traffic: LiveTraffic

        init(slots: MemoryBudget, traffic: LiveTraffic) {
            self.slots = slots
            self.traffic = traffic
        }

        deinit {
            slots.release(1)
            traffic.ended()
        }
    }

    /// The answer to a store that found no room in time.
    func busy() -> GatewayError {
        GatewayError(
            .serviceUnavailable,
            "busy",
            "the gateway is at its limit of \(memory.storeSlots.capacity) concurrent stores and streamed fetches; nothing was done, send it again",
            retryAfterSeconds: 5
        )
    }
}
