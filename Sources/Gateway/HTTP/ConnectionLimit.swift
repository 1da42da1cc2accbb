import HummingbirdCore
import Synchronization

/// At most `limit` KAZOO connections open at once. Each one holds some memory whatever it sends (its
/// NIO and HTTP state, the read that brought its head: about 60 KiB measured), so the budget sets
/// `GatewayConfig.reservedBytesPerConnection` aside for each. At the limit Hummingbird's listener stops
/// accepting; further connections wait in the kernel's backlog, which costs the gateway nothing, and are
/// accepted as others close. Counted by Hummingbird on the listener's event loop; read by `/metrics`.
final class ConnectionLimit: AvailableConnectionsDelegate {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) { self.limit = max(1, limit) }

    var openConnections: Int { open.load(ordering: .relaxed) }

    func connectionOpened() { open.add(1, ordering: .relaxed) }

    func connectionClosed() { open.subtract(1, ordering: .relaxed) }

    func isAcceptingNewConnections() -> Bool { openConnections < limit }
}
