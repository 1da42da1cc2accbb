public import S3

/// `memory_budget_bytes`, split once into pools that never wait for each other: a share per open
/// connection (`GatewayConfig.reservedBytesPerConnection`, kept by `ConnectionLimit`), a slot per concurrent
/// store, each standing for `GatewayConfig.reservedBytesPerStore` (what its connection may hold on the way
/// in), the larger reads of connections whose bodies flowed (a quarter of the rest at most), and the part
/// buffers of live stores and replays, which get the rest.
public struct GatewayMemory: Sendable {
    /// Part buffers (the uploader's budget).
    public let parts: MemoryBudget
    /// One unit per store reading its body.
    let storeSlots: MemoryBudget
    /// Open KAZOO connections.
    let connections: ConnectionLimit
    /// Connections whose bodies flowed, each holding `GatewayConfig.flowingReadBytes` for larger reads.
    let flowingReads: MemoryBudget
    public let capacity: Int

    public init(config: GatewayConfig) {
        parts = MemoryBudget(capacity: config.partBudgetBytes)
        storeSlots = MemoryBudget(capacity: config.concurrentStores)
        connections = ConnectionLimit(limit: config.connections)
        flowingReads = MemoryBudget(capacity: config.flowingReadBudgetBytes)
        capacity = config.memoryBudgetBytes
    }

    /// Bytes held or set aside right now.
    public var inUse: Int {
        parts.inUse + flowingReads.inUse + storeSlots.inUse * GatewayConfig.reservedBytesPerStore
            + connections.openConnections * GatewayConfig.reservedBytesPerConnection
    }
}
