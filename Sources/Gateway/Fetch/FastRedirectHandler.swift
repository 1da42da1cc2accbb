import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers the common fetch, a KAZOO GET of a recently stored or fetched recording, on the event loop:
/// the token, the account and the object are known from memory (`AccountDirectory`, `ObjectLocator`),
/// so the 302 to a presigned URL is written here without a trip through Swift concurrency, which cost
/// more than everything else on this path (wrk, 64 connections: see the README's benchmark).
///
/// It answers only what `FetchPlan` says is a redirect; anything else — an object still in the spool,
/// another method, an `Authorization` header, a proxy-mode account, an object only the database knows,
/// any refusal — passes on untouched to the full route, which gives the same answers. Responses stay in order: the fast path is taken only when no earlier request on
/// the connection is still being answered by the route.
final class FastRedirectHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let directory: AccountDirectory
    let locator: ObjectLocator
    let ledger: RecordingLedger
    let defaultExpiry: Int
    let metrics: GatewayMetrics
    /// Requests passed on whose response has not ended yet.
    private var inFlight = 0
    /// The rest of a request answered here is dropped.
    private var swallowing = false

    init(directory: AccountDirectory, locator: ObjectLocator, ledger: RecordingLedger, defaultExpiry: Int, metrics: GatewayMetrics) {
        self.ledger = ledger
        self.metrics = metrics
        self.directory = directory
        self.locator = locator
        self.defaultExpiry = defaultExpiry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let request):
            if inFlight == 0, let location = redirect(for: request) {
                swallowing = true
                var fields = HTTPFields()
                fields[.location] = location
                fields[.contentLength] = "0"
                fields[.cacheControl] = "no-store"
                context.write(wrapOutboundOut(.head(HTTPResponse(status: .found, headerFields: fields))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                metrics.redirected()
                return
            }
            swallowing = false
            inFlight += 1
            context.fireChannelRead(data)
        case .body:
            if !swallowing { context.fireChannelRead(data) }
        case .end:
            if swallowing {
                swallowing = false
            } else {
                context.fireChannelRead(data)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { inFlight = max(0, inFlight - 1) }
        context.write(data, promise: promise)
    }

    /// The presigned URL to redirect to, or nil to leave the request to the route.
    func redirect(for request: HTTPRequest) -> String? {
        guard request.headerFields[.connection]?.lowercased() != "close", let target = request.path else { return nil }
        let path: String
        var query: String?
        if let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = String(target[..<mark])
            query = String(target[target.utf8.index(after: mark)...])
        } else {
            path = target
        }
        let authorization = request.headerFields[.authorization]
        guard request.method == .get || request.method == .head,
            let auth = try? RequestAuthentication.authenticate(path: path, query: query, authorization: authorization, directory: directory),
            let location = locator.remembered(accountId: auth.entry.account.accountId, segments: auth.segments),
            FetchPlan.choose(
                method: request.method,
                hasAuthorization: authorization != nil,
                downloadMode: auth.entry.account.downloadMode,
                inSpool: ledger.isWaitingInSpool(accountId: auth.entry.account.accountId, key: location.key)
            ) == .redirect
        else { return nil }
        return try? FetchRoute.presignedLocation(auth.entry, location, defaultExpiry: defaultExpiry)
    }
}
