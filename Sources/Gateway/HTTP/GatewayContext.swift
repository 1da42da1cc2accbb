public import Hummingbird
import Logging
public import NIOCore

/// The request context: Hummingbird's core storage plus the connection's channel, which the store
/// route needs to send `100 Continue` once it has accepted a request.
public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

extension GatewayContext {
    /// The request is accepted: a client waiting for `100 Continue` may now send the body.
    func acceptBody() async {
        try? await channel.triggerUserOutboundEvent(BodyFlowGate.Accept()).get()
    }
}
