import HTTPTypes
import NIOCore
import NIOHTTPTypes
import S3

/// When a request body may flow, and how fast: flow control from the socket to the store, and
/// `Expect: 100-continue`.
///
/// A request body is read off its connection only as fast as the gateway moves it on, so the bytes a
/// connection holds in memory stay within a small window.
/// NIO's own back-pressure counts messages (up to ten reads of up to 64 KiB wait per connection), and
/// Hummingbird starts a body before the route decides anything; so this handler, which sits after the
/// HTTP decoder, holds the channel's `read()` while:
/// - a request with a body has been received and the route has not accepted it yet (a store waiting for
///   admission holds at most the bytes that came with its head), or
/// - `window` bytes of body have been passed on that the route has not yet reported moved on
///   (`Consumed`, sent by `FlowControlledBody` as it asks for the next chunk).
/// Once the response starts, the rest of a body flows freely (it is being drained or discarded).
///
/// It answers `Expect: 100-continue` the way Go's net/http does: the interim `100 Continue` goes out only
/// when the route accepts the request (`Accept`), so a refusal (bad token, unknown account, bad key, too
/// large, no room) costs the client nothing; a final answer written while a `100 Continue` is still owed
/// means the body will never come, so it says `Connection: close` and the connection closes after it.
/// (Hummingbird 2.28 has no support of its own.)
///
/// A body that flows (a full read's worth has come) gets a larger window and larger reads for its connection
/// when the flowing reads' share of the budget can spare `flowingCharge`, held until the connection closes
/// (see `flowingWindow`). A client that sends less than a full read never holds more than the small ones.
///
/// While the gateway is at `max_connections`, every answer closes its connection: a client's idle
/// keep-alive connections would otherwise hold the places that the connections waiting to be accepted need
/// (curl and httpc keep theirs open; the server's idle timeout is minutes).
///
/// And it drops a body that sends nothing for `idleTimeout` while the gateway is waiting for it (not
/// while the gateway itself holds the reads): the body ends with `BodyIdleTimeout`, and the answer
/// closes the connection.
final class BodyFlowGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Body bytes a connection may have read ahead of the route, beyond the read in progress.
    static let window = 64 * 1024
    /// The largest single read from a connection: a head, a body the route has not accepted (its first
    /// bytes may come with the head), whatever a connection sends between requests, and a body until it
    /// has shown it flows.
    static let maximumRead = 64 * 1024
    /// A flowing body's window and largest read, once its connection has the memory for them: each read
    /// costs about the same whatever its size, and a 1 GiB store took 0.5-0.7 CPU-s less at 512 KiB than at
    /// 64 KiB. NIO keeps one receive buffer per connection for the connection's life, grown to the largest
    /// read it served (and reads into all of it), so the connection holds the memory (`flowingCharge`, from
    /// `GatewayMemory.flowingReads`) until it closes, and its next stores flow at once. (Closing it after
    /// the answer instead cut 1,000 concurrent 1 MiB stores from 134 to 82 a second; handing each read a
    /// buffer of its own cost the 1 GiB store 0.6 CPU-s more: the reads came back smaller.)
    static let flowingWindow = 128 * 1024
    static let maximumFlowingRead = 512 * 1024
    /// The larger window's and read's growth: `GatewayConfig.flowingReadBytes`.
    static let flowingCharge = (flowingWindow - window) + (maximumFlowingRead - maximumRead)

    /// The route accepted the request: its body may be read, and an owed `100 Continue` goes out.
    struct Accept: Sendable {}

    /// The route moved `bytes` of body on (into a part buffer or the spool): the window opens by as much.
    struct Consumed: Sendable { var bytes: Int }

    private let idleTimeout: TimeAmount?
    private let connections: ConnectionLimit
    /// Where a flowing body's larger reads are charged (`GatewayMemory.flowingReads`); nil: never larger.
    private let flowingBudget: MemoryBudget?
    /// This connection holds `flowingCharge` of it.
    private var flowing = false
    /// A request with a body is being received and its response has not started.
    private var inBody = false
    /// That body waits for the route to accept it.
    private var awaitingAccept = false
    /// Body bytes passed on and not reported consumed.
    private var outstanding = 0
    /// A `read()` held back, to pass on when the gate opens.
    private var readHeld = false
    private var idleTimer: Scheduled<Void>?
    /// The client waits for `100 Continue` before it sends the body.
    private var continueOwed = false
    /// The body will not be read to its end (never sent, or dropped as idle): the answer closes the connection.
    private var closeAfterResponse = false

    init(idleTimeout: TimeAmount?, connections: ConnectionLimit, flowingBudget: MemoryBudget? = nil) {
        self.idleTimeout = idleTimeout
        self.connections = connections
        self.flowingBudget = flowingBudget
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // One read per readable event, of at most `maximumRead` bytes: what a held gate lets through stays small.
        if let options = context.channel.syncOptions {
            try? options.setOption(.maxMessagesPerRead, value: 1)
            try? options.setOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 4 * 1024, maximum: Self.maximumRead)
            )
        }
    }

    /// Body bytes read of the body in progress.
    private var bodyBytes = 0

    /// A body that has sent a full read's worth gets the larger window and reads for its connection, if the
    /// memory is there now (else it goes on at the small ones).
    private func startFlowing(context: ChannelHandlerContext) {
        guard !flowing, let flowingBudget, flowingBudget.tryAcquire(Self.flowingCharge) else { return }
        flowing = true
        try? context.channel.syncOptions?.setOption(
            .recvAllocator,
            value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: Self.maximumRead, maximum: Self.maximumFlowingRead)
        )
    }

    private func stopFlowing() {
        guard flowing else { return }
        flowing = false
        flowingBudget?.release(Self.flowingCharge)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelIdleTimer()
        stopFlowing()
    }

    private var mayRead: Bool { !inBody || (!awaitingAccept && outstanding < (flowing ? Self.flowingWindow : Self.window)) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            outstanding = 0
            bodyBytes = 0
            inBody = Self.hasBody(request)
            awaitingAccept = inBody
            continueOwed = request.headerFields[.expect]?.lowercased() == "100-continue"
        case .body(let bytes):
            cancelIdleTimer()
            if inBody {
                outstanding += bytes.readableBytes
                bodyBytes += bytes.readableBytes
                if bodyBytes >= Self.maximumRead { startFlowing(context: context) }
            }
        case .end:
            cancelIdleTimer()
            inBody = false
            awaitingAccept = false
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        guard mayRead else {
            readHeld = true
            return
        }
        readHeld = false
        if inBody { armIdleTimer(context: context) }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where response.status.code >= 200:
            if inBody {
                // Answered before the body ended: the rest is drained (or the connection closed), not held.
                inBody = false
                awaitingAccept = false
                cancelIdleTimer()
                releaseHeldRead(context: context)
            }
            if continueOwed {
                continueOwed = false
                closeAfterResponse = true
            }
            if connections.openConnections >= connections.limit { closeAfterResponse = true }
            if closeAfterResponse {
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
        case .end where closeAfterResponse:
            closeAfterResponse = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            context.write(data, promise: written)
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if let consumed = event as? Consumed {
            outstanding = max(0, outstanding - consumed.bytes)
            releaseHeldRead(context: context)
            promise?.succeed(())
            return
        }
        guard event is Accept else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        awaitingAccept = false
        releaseHeldRead(context: context)
        if continueOwed {
            continueOwed = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: promise)
        } else {
            promise?.succeed(())
        }
    }

    private func releaseHeldRead(context: ChannelHandlerContext) {
        if readHeld && mayRead { read(context: context) }
    }

    private func armIdleTimer(context: ChannelHandlerContext) {
        guard let idleTimeout, idleTimer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (gate, context) = loopBound.value
            gate.idleTimer = nil
            guard gate.inBody else { return }
            gate.inBody = false
            gate.closeAfterResponse = true
            context.fireErrorCaught(BodyIdleTimeout(seconds: idleTimeout.nanoseconds / 1_000_000_000))
        }
    }

    private func cancelIdleTimer() {
        idleTimer?.cancel()
        idleTimer = nil
    }

    /// Whether a request announces a body: a length above zero, or chunked.
    static func hasBody(_ request: HTTPRequest) -> Bool {
        if let length = request.headerFields[.contentLength] { return Int(length).map { $0 > 0 } ?? true }
        return request.headerFields[.transferEncoding] != nil
    }
}

/// A body sent nothing for `body_idle_timeout_seconds` while the gateway waited for it.
struct BodyIdleTimeout: Error, Sendable, CustomStringConvertible {
    var seconds: Int64
    var description: String { "the body sent nothing for \(seconds) s" }
}
