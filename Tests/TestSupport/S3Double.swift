import Crypto
public import Foundation
import NIOConcurrencyHelpers
public import NIOCore
public import NIOHTTP1
import NIOPosix

/// An in-process S3 of the project's own that injects what real AWS does and no local server can:
/// throttling, internal errors, connection resets in the middle of a part, slow answers,
/// 200 answers carrying an `<Error>` document, and clock-skew refusals.
///
/// It speaks just enough S3 (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
/// AbortMultipartUpload, HeadObject, GetObject), checks that `x-amz-content-sha256` matches the body
/// and that `x-amz-date` is within 15 minutes of its clock, and keeps objects in memory (or only their
/// sizes, for load tests).
public final class S3Double: Sendable {
    public enum Fault: Sendable {
        /// Answer with this status and error code instead of serving the request.
        case error(status: Int, code: String)
        /// Close the connection after this many body bytes have arrived.
        case resetAfter(bytes: Int)
        /// Serve the request, but only after this long.
        case delay(milliseconds: Int64)
        /// Answer 200 with an `<Error>` document of this code, without serving the request (as S3 does on CompleteMultipartUpload).
        case errorDocumentWith200(code: String)
        /// Answer 400 AuthorizationHeaderMalformed naming the bucket's real region.
        case wrongRegion(String)
        /// Answer 301 PermanentRedirect with `x-amz-bucket-region` (what S3 says to a request sent to the wrong regional host).
        case permanentRedirect(region: String)
        /// Answer 200 with an XML document of this many bytes, without serving the request; the bytes are sent as
        /// fast as the client reads them and never held.
        case hugeAnswer(bytes: Int)
        /// Answer 200 at once with the head of a 1,000-byte XML document, then one byte a second, without serving
        /// the request.
        case trickle
        /// Serve the request (GetObject), but send all but this many bytes of the body it announced, then close.
        case shortBody(missing: Int)
        /// Serve the request (CompleteMultipartUpload), but answer with this ETag.
        case etag(String)
        /// Answer 307 Temporary Redirect to the very same URL, without serving the request.
        case redirectLoop
    }

    public struct Stored: Sendable {
        public var bytes: ByteBuffer?
        public var size: Int
        public var headers: [(String, String)]
    }

    private struct State {
        var faults: [(operation: String, fault: Fault)] = []
        var lasting: [String: Fault] = [:]
        var objects: [String: Stored] = [:]
        var uploads: [String: [Int: Stored]] = [:]
        var uploadHeaders: [String: [(String, String)]] = [:]
        var requests: [String] = []
        var nextUpload = 0
    }

    let keepBytes: Bool
    private let state = NIOLockedValueBox(State())
    private let channel: NIOLockedValueBox<(any Channel)?> = NIOLockedValueBox(nil)

    public init(keepBytes: Bool = true) {
        self.keepBytes = keepBytes
    }

    /// Starts listening on 127.0.0.1 and returns `host:port`.
    public func start() async throws -> String {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(S3DoubleHandler(double: self))
                }
            }
        let server = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        channel.withLockedValue { $0 = server }
        return "127.0.0.1:\(server.localAddress?.port ?? 0)"
    }

    public func stop() async throws {
        let server = channel.withLockedValue { $0 }
        try await server?.close()
    }

    /// Queues a fault for the next request of `operation` (`PutObject`, `UploadPart`, ...).
    public func inject(_ fault: Fault, into operation: String) {
        state.withLockedValue { $0.faults.append((operation, fault)) }
    }

    /// Applies `fault` to every request of `operation` from now on (nil: none any more); queued faults go first.
    public func injectAlways(_ fault: Fault?, into operation: String) {
        state.withLockedValue { $0.lasting[operation] = fault }
    }

    /// The operations served or refused so far, in order.
    public var requests: [String] { state.withLockedValue { $0.requests } }

    public func object(_ key: String) -> Stored? { state.withLockedValue { $0.objects[key] } }

    /// Records a request's operation (every request, faulted or not) and takes the next fault queued for it.
    public func begin(_ operation: String) -> Fault? {
        state.withLockedValue { state in
            state.requests.append(operation)
            guard let index = state.faults.firstIndex(where: { $0.operation == operation }) else { return state.lasting[operation] }
            return state.faults.remove(at: index).fault
        }
    }

    public static func operation(method: HTTPMethod, query: [String: String]) -> String {
        switch method {
        case .PUT: query["partNumber"] != nil ? "UploadPart" : "PutObject"
        case .POST: query["uploads"] != nil ? "CreateMultipartUpload" : "CompleteMultipartUpload"
        case .DELETE: "AbortMultipartUpload"
        case .HEAD: "HeadObject"
        case .GET: query["list-type"] != nil ? "ListObjectsV2" : "GetObject"
        default: "Unknown"
        }
    }

    public struct Answer: Sendable {
        public var status: HTTPResponseStatus
        public var headers: [(String, String)] = []
        public var body: ByteBuffer = ByteBuffer()
    }

    /// Serves one complete request.
    public func serve(head: HTTPRequestHead, body: ByteBuffer, operation: String, query: [String: String], now: Date) -> Answer {
        if let failure = checkSignatureInputs(head: head, body: body, now: now) { return failure }
        let key = Self.key(of: head.uri)
        switch operation {
        case "PutObject":
            let stored = Stored(bytes: keepBytes ? body : nil, size: body.readableBytes, headers: Self.objectHeaders(head))
            state.withLockedValue { $0.objects[key] = stored }
            return Answer(status: .ok, headers: [("ETag", "\"\(Self.md5(body))\"")])
        case "CreateMultipartUpload":
            let uploadId = state.withLockedValue { state -> String in
                state.nextUpload += 1
                let id = "upload-\(state.nextUpload)"
                state.uploads[id] = [:]
                state.uploadHeaders[id] = Self.objectHeaders(head)
                return id
            }
            return Self.xml(
                "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>\(key)</Key><UploadId>\(uploadId)</UploadId></InitiateMultipartUploadResult>"
            )
        case "UploadPart":
            guard let uploadId = query["uploadId"], let number = query["partNumber"].flatMap(Int.init) else {
                return Self.error(400, "InvalidArgument")
            }
            let etag = "\"\(Self.md5(body))\""
            let known = state.withLockedValue { state -> Bool in
                guard state.uploads[uploadId] != nil else { return false }
                state.uploads[uploadId]?[number] = Stored(bytes: keepBytes ? body : nil, size: body.readableBytes, headers: [("ETag", etag)])
                return true
            }
            return known ? Answer(status: .ok, headers: [("ETag", etag)]) : Self.error(404, "NoSuchUpload")
        case "CompleteMultipartUpload":
            guard let uploadId = query["uploadId"] else { return Self.error(400, "InvalidArgument") }
            let done = state.withLockedValue { state -> Bool in
                guard let parts = state.uploads.removeValue(forKey: uploadId) else { return false }
                var whole = ByteBuffer()
                var size = 0
                for number in parts.keys.sorted() {
                    size += parts[number]?.size ?? 0
                    if var bytes = parts[number]?.bytes { whole.writeBuffer(&bytes) }
                }
                state.objects[key] = Stored(bytes: keepBytes ? whole : nil, size: size, headers: state.uploadHeaders[uploadId] ?? [])
                return true
            }
            guard done else { return Self.error(404, "NoSuchUpload") }
            return Self.xml("<CompleteMultipartUploadResult><Key>\(key)</Key><ETag>\"complete-etag\"</ETag></CompleteMultipartUploadResult>")
        case "AbortMultipartUpload":
            return Self.error(403, "AccessDenied")
        case "HeadObject", "GetObject":
            guard let stored = object(key) else { return Self.error(404, "NoSuchKey") }
            var headers = stored.headers
            headers.append(("Content-Length", String(stored.size)))
            return Answer(status: .ok, headers: headers, body: operation == "GetObject" ? stored.bytes ?? ByteBuffer() : ByteBuffer())
        default:
            return Self.error(400, "NotImplemented")
        }
    }

    /// What AWS checks before anything else: the payload hash and the clock.
    private func checkSignatureInputs(head: HTTPRequestHead, body: ByteBuffer, now: Date) -> Answer? {
        guard head.headers.first(name: "authorization")?.hasPrefix("AWS4-HMAC-SHA256 ") == true else {
            return Self.error(403, "AccessDenied")
        }
        guard let date = head.headers.first(name: "x-amz-date").flatMap(SigningTimeParser.parse),
            abs(date.timeIntervalSince(now)) <= 15 * 60
        else {
            var answer = Self.error(403, "RequestTimeTooSkewed")
            answer.headers.append(("Date", Self.httpDate(now)))
            return answer
        }
        let declared = head.headers.first(name: "x-amz-content-sha256") ?? ""
        if declared != "UNSIGNED-PAYLOAD" {
            let actual = body.withUnsafeReadableBytes { SHA256.hash(data: $0) }.map { String(format: "%02x", $0) }.joined()
            if declared != actual { return Self.error(400, "XAmzContentSHA256Mismatch") }
        }
        return nil
    }

    public static func key(of uri: String) -> String {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)  // "", bucket, key
        return parts.count > 2 ? (String(parts[2]).removingPercentEncoding ?? String(parts[2])) : ""
    }

    public static func query(of uri: String) -> [String: String] {
        guard let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var result: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            result[String(parts[0])] = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? "") : ""
        }
        return result
    }

    public static func objectHeaders(_ head: HTTPRequestHead) -> [(String, String)] {
        head.headers.filter { name, _ in
            let lower = name.lowercased()
            return lower == "content-type" || lower.hasPrefix("x-amz-meta-") || lower.hasPrefix("x-amz-server-side-encryption")
        }.map { ($0.name, $0.value) }
    }

    public static func error(_ status: Int, _ code: String) -> Answer {
        var answer = xml("<Error><Code>\(code)</Code><Message>injected \(code)</Message><RequestId>double-1</RequestId></Error>")
        answer.status = HTTPResponseStatus(statusCode: status)
        return answer
    }

    public static func xml(_ text: String) -> Answer {
        Answer(
            status: .ok,
            headers: [("Content-Type", "application/xml")],
            body: ByteBuffer(string: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + text)
        )
    }

    static func md5(_ body: ByteBuffer) -> String {
        body.withUnsafeReadableBytes { Insecure.MD5.hash(data: $0) }.map { String(format: "%02x", $0) }.joined()
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

enum SigningTimeParser {
    static func parse(_ amzDate: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: amzDate)
    }
}

/// One connection of the double: gathers a request, applies the next fault for its operation, answers.
final class S3DoubleHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let double: S3Double
    var head: HTTPRequestHead?
    var body = ByteBuffer()
    var fault: S3Double.Fault?
    var operation = ""
    var query: [String: String] = [:]

    init(double: S3Double) {
        self.double = double
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.clear()
            query = S3Double.query(of: requestHead.uri)
            operation = S3Double.operation(method: requestHead.method, query: query)
            fault = double.begin(operation)
        case .body(var chunk):
            body.writeBuffer(&chunk)
            if case .resetAfter(let bytes) = fault, body.readableBytes >= bytes {
                fault = nil
                context.close(promise: nil)
            }
        case .end:
            guard let head else { return }
            var answer: S3Double.Answer
            switch fault {
            case .error(let status, let code):
                answer = S3Double.error(status, code)
            case .errorDocumentWith200(let code):
                answer = S3Double.error(200, code)
            case .wrongRegion(let region):
                answer = S3Double.xml(
                    "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; expecting '\(region)'</Message><Region>\(region)</Region></Error>"
                )
                answer.status = .badRequest
            case .permanentRedirect(let region):
                answer = S3Double.xml(
                    "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Endpoint>bucket.s3.\(region).amazonaws.com</Endpoint></Error>"
                )
                answer.status = .movedPermanently
                answer.headers.append(("x-amz-bucket-region", region))
            case .delay(let milliseconds):
                let served = double.serve(head: head, body: body, operation: operation, query: query, now: Date())
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) {
                    let (handler, context) = loopBound.value
                    handler.write(served, method: head.method, context: context)
                }
                return
            case .hugeAnswer(let bytes):
                let opening = ByteBuffer(string: "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><UploadId>")
                stream(status: .ok, length: bytes, first: opening, context: context) { count in
                    ByteBuffer(repeating: UInt8(ascii: "a"), count: count)
                }
                return
            case .trickle:
                let document = ByteBuffer(string: "<?xml version=\"1.0\"?><CompleteMultipartUploadResult>" + String(repeating: " ", count: 1000))
                trickle(document.getSlice(at: 0, length: 1000) ?? document, context: context)
                return
            case .shortBody(let missing):
                var served = double.serve(head: head, body: body, operation: operation, query: query, now: Date())
                let whole = served.body.readableBytes
                served.headers.removeAll { $0.0.lowercased() == "content-length" }
                served.headers.append(("Content-Length", String(whole)))
                served.body = served.body.getSlice(at: served.body.readerIndex, length: max(0, whole - missing)) ?? ByteBuffer()
                write(served, method: head.method, context: context, thenClose: true)
                return
            case .etag(let etag):
                answer = double.serve(head: head, body: body, operation: operation, query: query, now: Date())
                if answer.status == .ok {
                    answer = S3Double.xml("<CompleteMultipartUploadResult><Key>k</Key><ETag>\(etag)</ETag></CompleteMultipartUploadResult>")
                }
            case .redirectLoop:
                let host = head.headers.first(name: "host") ?? "127.0.0.1"
                answer = S3Double.Answer(status: .temporaryRedirect, headers: [("Location", "http://\(host)\(head.uri)")])
            case .resetAfter, nil:
                answer = double.serve(head: head, body: body, operation: operation, query: query, now: Date())
            }
            write(answer, method: head.method, context: context)
        }
    }

    /// A 200 of `length` bytes: `first`, then chunks from `filler`, each written when the last one was taken.
    func stream(
        status: HTTPResponseStatus,
        length: Int,
        first: ByteBuffer,
        context: ChannelHandlerContext,
        filler: @escaping @Sendable (Int) -> ByteBuffer
    ) {
        var headers = HTTPHeaders([("Content-Length", String(length)), ("Content-Type", "application/xml")])
        headers.add(name: "x-amz-request-id", value: "double-request")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        @Sendable func send(_ chunk: ByteBuffer, remaining: Int) {
            let (handler, context) = loopBound.value
            guard context.channel.isActive else { return }
            let promise = context.eventLoop.makePromise(of: Void.self)
            let rest = remaining - chunk.readableBytes
            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(chunk))), promise: promise)
            promise.futureResult.whenSuccess {
                guard rest > 0 else {
                    let (handler, context) = loopBound.value
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil)), promise: nil)
                    return
                }
                send(filler(min(rest, 64 * 1024)), remaining: rest)
            }
        }
        send(first, remaining: length)
    }

    /// A 200 announcing `document`, whose bytes follow one a second until the client goes away.
    func trickle(_ document: ByteBuffer, context: ChannelHandlerContext) {
        var headers = HTTPHeaders([("Content-Length", String(document.readableBytes)), ("Content-Type", "application/xml")])
        headers.add(name: "x-amz-request-id", value: "double-request")
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        @Sendable func next(_ offset: Int) {
            let (handler, context) = loopBound.value
            guard context.channel.isActive, offset < document.readableBytes, let byte = document.getSlice(at: offset, length: 1) else { return }
            context.writeAndFlush(handler.wrapOutboundOut(.body(.byteBuffer(byte))), promise: nil)
            context.eventLoop.scheduleTask(in: .seconds(1)) { next(offset + 1) }
        }
        next(0)
    }

    func write(_ answer: S3Double.Answer, method: HTTPMethod, context: ChannelHandlerContext, thenClose: Bool = false) {
        var headers = HTTPHeaders(answer.headers)
        if !headers.contains(name: "Content-Length") { headers.add(name: "Content-Length", value: String(answer.body.readableBytes)) }
        headers.add(name: "x-amz-request-id", value: "double-request")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers))), promise: nil)
        if method != .HEAD && answer.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(answer.body))), promise: nil)
        }
        guard thenClose else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.flush()
        context.close(promise: nil)
    }
}
