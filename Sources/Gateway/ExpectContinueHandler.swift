import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` the way Go's net/http does: the interim `100 Continue` is sent only
/// when the gateway has accepted the request and is about to read its body (`sendContinue`), so a
/// refusal (bad token, unknown account, bad key, too large) goes out without the client sending the
/// body. Hummingbird 2.28 has no support of its own; this sits after its HTTP decoding.
///
/// A final answer written while a `100 Continue` is still owed means the body will never come:
/// the response says `Connection: close` and the connection is closed after it.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var continueOwed = false
    private var closeAfterResponse = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data) {
            continueOwed = request.headerFields[.expect]?.lowercased() == "100-continue"
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where continueOwed && response.status.code >= 200:
            continueOwed = false
            closeAfterResponse = true
            response.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            context.write(data, promise: written)
        default:
            context.write(data, promise: promise)
        }
    }

    /// Sends the owed `100 Continue`, if any (on the event loop).
    func sendContinue() {
        guard continueOwed, let context else { return }
        continueOwed = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
    }

    /// Called by the store route once a request is accepted, before it reads the body.
    static func sendContinue(on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ExpectContinueHandler.self).sendContinue()
        }.get()
    }
}
