public import AsyncHTTPClient
import Crypto
public import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOSSL

/// The S3 operations the gateway needs, for one bucket with one account's credentials.
///
/// Requests are signed with SigV4 (the payload's SHA-256 is signed, so S3 checks every byte it
/// receives), retried on throttling, S3's own failures and network errors with full-jitter backoff
/// and a per-endpoint retry budget, and every S3 error becomes one `S3Error`.
public struct S3Client: Sendable {
    public let endpoint: S3Endpoint
    public let bucket: String
    public let configuration: S3ClientConfiguration
    let http: HTTPClient
    let signer: SigV4Signer
    let clock: ClockOffset
    let budget: RetryBudget
    let logger: Logger

    /// - Parameter http: shared by every client in the process; make it with `S3Client.makeHTTPClient`
    ///   so that redirects are not followed (S3's 301 names the right region and must reach the caller).
    public init(
        endpoint: S3Endpoint,
        bucket: String,
        credentials: Credentials,
        http: HTTPClient,
        configuration: S3ClientConfiguration = S3ClientConfiguration(),
        retryBudget: RetryBudget = RetryBudget(),
        logger: Logger = Logger(label: "s3")
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.configuration = configuration
        self.http = http
        self.signer = SigV4Signer(credentials: credentials, region: endpoint.region)
        self.clock = ClockOffset()
        self.budget = retryBudget
        self.logger = logger
    }

    /// An HTTP client set up for S3: no redirects followed, the configured connect and idle timeouts.
    public static func makeHTTPClient(configuration: S3ClientConfiguration = S3ClientConfiguration()) -> HTTPClient {
        var http = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .init(configuration.connectTimeout), read: .init(configuration.idleTimeout)),
            decompression: .disabled
        )
        http.connectionPool.idleTimeout = .seconds(60)
        // A refused connection fails the attempt at once and our retry policy decides; AsyncHTTPClient's
        // own retrying would hold every request until its deadline (20 s) while S3 is down.
        http.connectionPool.retryConnectionEstablishment = false
        http.httpVersion = .http1Only
        if !configuration.trustedCertificateFiles.isEmpty {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = configuration.trustedCertificateFiles.map { .file($0) }
            http.tlsConfiguration = tls
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    // MARK: Operations

    /// PutObject of a body held in memory.
    public func putObject(
        key: String,
        body: ByteBuffer,
        options: S3ObjectOptions = S3ObjectOptions(),
        sha256: Payload? = nil
    ) async throws(S3Error)
        -> PutResult
    {
        let response = try await send(
            "PutObject",
            method: .PUT,
            key: key,
            headers: options.headers,
            body: body,
            payload: sha256 ?? Self.sha256(of: body)
        )
        return PutResult(etag: response.headers.first(name: "etag"), versionId: response.headers.first(name: "x-amz-version-id"))
    }

    /// CreateMultipartUpload; returns the upload id.
    public func createMultipartUpload(key: String, options: S3ObjectOptions = S3ObjectOptions()) async throws(S3Error) -> String {
        let response = try await send(
            "CreateMultipartUpload",
            method: .POST,
            key: key,
            query: [QueryItem("uploads")],
            headers: options.headers,
            payload: .empty
        )
        guard let uploadId = S3Answers.uploadId(in: response.body) else {
            throw S3Error(
                status: response.status,
                code: "MalformedResponse",
                message: "no UploadId in the answer",
                operation: "CreateMultipartUpload"
            )
        }
        return uploadId
    }

    /// UploadPart with the part's SHA-256 signed (S3 refuses a part whose bytes do not match it).
    public func uploadPart(
        key: String,
        uploadId: String,
        partNumber: Int,
        body: ByteBuffer,
        sha256: Payload? = nil
    ) async throws(S3Error)
        -> String
    {
        let response = try await send(
            "UploadPart",
            method: .PUT,
            key: key,
            query: [QueryItem("partNumber", String(partNumber)), QueryItem("uploadId", uploadId)],
            body: body,
            payload: sha256 ?? Self.sha256(of: body)
        )
        guard let etag = response.headers.first(name: "etag") else {
            throw S3Error(status: response.status, code: "MalformedResponse", message: "no ETag for part \(partNumber)", operation: "UploadPart")
        }
        return etag
    }

    /// CompleteMultipartUpload. A 200 whose body is an `<Error>` document is a failure.
    public func completeMultipartUpload(key: String, uploadId: String, parts: [CompletedPart]) async throws(S3Error) -> PutResult {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            xml += "<Part><PartNumber>\(part.partNumber)</PartNumber><ETag>\(Self.xmlEscape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = ByteBuffer(string: xml)
        let response = try await send(
            "CompleteMultipartUpload",
            method: .POST,
            key: key,
            query: [QueryItem("uploadId", uploadId)],
            headers: [HeaderField("Content-Type", "application/xml")],
            body: body,
            payload: Self.sha256(of: body)
        )
        let etag = S3Answers.etag(in: response.body) ?? response.headers.first(name: "etag")
        // A multipart ETag ends in the number of parts S3 assembled; another number is another object than the one sent.
        if let etag, let assembled = S3Answers.partCount(ofMultipartETag: etag), assembled != parts.count {
            throw S3Error(
                status: response.status,
                code: "CompleteMismatch",
                message: "S3 answered an object of \(assembled) parts to the \(parts.count) sent; it is not taken as stored",
                operation: "CompleteMultipartUpload"
            )
        }
        return PutResult(etag: etag, versionId: response.headers.first(name: "x-amz-version-id"))
    }

    /// AbortMultipartUpload, as a courtesy: under least privilege S3 answers AccessDenied, which is expected.
    public func abortMultipartUpload(key: String, uploadId: String) async -> AbortOutcome {
        do {
            _ = try await send("AbortMultipartUpload", method: .DELETE, key: key, query: [QueryItem("uploadId", uploadId)], payload: .empty)
            return .aborted
        } catch {
            if error.code == "AccessDenied" { return .denied }
            if error.code == "NoSuchUpload" { return .aborted }
            return .failed(error)
        }
    }

    /// HeadObject; nil when there is no such object.
    public func headObject(key: String) async throws(S3Error) -> ObjectInfo? {
        do {
            let response = try await send("HeadObject", method: .HEAD, key: key, payload: .empty)
            return ObjectInfo(headers: response.headers)
        } catch  where error.status == 404 {
            return nil
        }
    }

    /// GetObject, streamed: the answer's head is checked (and retried) before this returns; the body is
    /// read by the caller as it arrives. Nil when there is no such object.
    public func getObject(key: String) async throws(S3Error) -> ObjectStream? {
        do {
            let (info, body) = try await sendStreaming("GetObject", key: key)
            return ObjectStream(info: info, body: body)
        } catch  where error.status == 404 {
            return nil
        }
    }

    /// Whether the bucket answers these credentials, with S3's clock and (when S3 names it) the bucket's
    /// region: a ListObjectsV2 of at most one key, which needs only s3:ListBucket. (HeadBucket needs the
    /// same permission on AWS, but not every S3-compatible store maps it so.)
    public func probeBucket() async throws(S3Error) -> BucketInfo {
        let response = try await send(
            "ListObjectsV2",
            method: .GET,
            key: nil,
            query: [QueryItem("list-type", "2"), QueryItem("max-keys", "1")],
            payload: .empty
        )
        return BucketInfo(
            region: response.headers.first(name: "x-amz-bucket-region"),
            serverDate: response.headers.first(name: "date").flatMap(HTTPDate.parse)
        )
    }

    /// DeleteObject. The gateway never deletes; `verify` uses it to check that the credentials cannot.
    public func deleteObject(key: String) async throws(S3Error) {
        _ = try await send("DeleteObject", method: .DELETE, key: key, payload: .empty)
    }

    /// ListObjectsV2, one page (up to `maxKeys`) of the keys under `prefix`.
    public func listObjects(prefix: String, maxKeys: Int = 1000) async throws(S3Error) -> ObjectList {
        let response = try await send(
            "ListObjectsV2",
            method: .GET,
            key: nil,
            query: [QueryItem("list-type", "2"), QueryItem("prefix", prefix), QueryItem("max-keys", String(maxKeys))],
            payload: .empty
        )
        return S3Answers.objectList(in: response.body)
    }

    /// A presigned GET URL for `key`, valid `expires` seconds (1...604800), with optional response header overrides.
    public func presignedGetURL(
        key: String,
        expires: Int,
        responseContentType: String? = nil,
        responseContentDisposition: String? = nil,
        now: Date = Date()
    ) throws(SigV4Error) -> PresignedURL {
        let (host, path) = endpoint.location(bucket: bucket, key: key)
        var query: [QueryItem] = []
        if let responseContentDisposition { query.append(QueryItem("response-content-disposition", responseContentDisposition)) }
        if let responseContentType { query.append(QueryItem("response-content-type", responseContentType)) }
        return try signer.presign(
            SigningRequest(method: "GET", host: host, path: path, query: query),
            scheme: endpoint.scheme.rawValue,
            expires: expires,
            time: clock.signingTime(now: now)
        )
    }

    // MARK: Sending

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// Signs and sends one request, retrying what is worth retrying; returns a 2xx answer with its (small) body.
    func send(
        _ operation: String,
        method: HTTPMethod,
        key: String?,
        query: [QueryItem] = [],
        headers: [HeaderField] = [],
        body: ByteBuffer? = nil,
        payload: Payload
    ) async throws(S3Error) -> Response {
        try await withRetries(operation) { () async throws(S3Error) -> Response in
            let request = prepare(method: method, key: key, query: query, headers: headers, body: body, payload: payload)
            let response: HTTPClientResponse
            let responseBody: ByteBuffer
            do {
                let deadline = NIODeadline.now() + .init(configuration.requestTimeout)
                response = try await http.execute(request, deadline: deadline, logger: logger)
                responseBody =
                    method == .HEAD
                    ? ByteBuffer()
                    : try await Self.collect(response.body, upTo: configuration.maxResponseBytes, by: deadline, on: http.eventLoopGroup)
            } catch {
                throw Self.transportError(error, operation: operation)
            }
            let status = Int(response.status.code)
            if !(200..<300).contains(status) {
                throw Self.error(status: status, headers: response.headers, body: responseBody, operation: operation)
            }
            // S3 can answer 200 and still fail (CompleteMultipartUpload): an error document is an error.
            if responseBody.readableBytes > 0, let document = S3ErrorDocument(responseBody.readableBytesView) {
                throw Self.error(status: status, document: document, headers: response.headers, operation: operation)
            }
            return Response(status: status, headers: response.headers, body: responseBody)
        }
    }

    /// GET whose body is handed to the caller unread once the status is a success.
    func sendStreaming(_ operation: String, key: String) async throws(S3Error) -> (ObjectInfo, HTTPClientResponse.Body) {
        try await withRetries(operation) { () async throws(S3Error) -> (ObjectInfo, HTTPClientResponse.Body) in
            let request = prepare(method: .GET, key: key, query: [], headers: [], body: nil, payload: .empty)
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .init(configuration.requestTimeout), logger: logger)
            } catch {
                throw Self.transportError(error, operation: operation)
            }
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else {
                let deadline = NIODeadline.now() + .init(configuration.idleTimeout)
                let body =
                    (try? await Self.collect(response.body, upTo: configuration.maxResponseBytes, by: deadline, on: http.eventLoopGroup))
                    ?? ByteBuffer()
                throw Self.error(status: status, headers: response.headers, body: body, operation: operation)
            }
            return (ObjectInfo(headers: response.headers), response.body)
        }
    }

    private func withRetries<Result>(_ operation: String, _ attempt: () async throws(S3Error) -> Result) async throws(S3Error) -> Result {
        guard let observer = configuration.observer else { return try await retrying(operation, attempt) }
        let started = ContinuousClock.now
        do {
            let result = try await retrying(operation, attempt)
            observer.operationFinished(operation, duration: ContinuousClock.now - started, error: nil)
            return result
        } catch {
            observer.operationFinished(operation, duration: ContinuousClock.now - started, error: error)
            throw error
        }
    }

    private func retrying<Result>(_ operation: String, _ attempt: () async throws(S3Error) -> Result) async throws(S3Error) -> Result {
        var attemptNumber = 1
        var lastRetryCost: Int?
        var correctedClock = false
        while true {
            do {
                let result = try await attempt()
                budget.deposit(afterRetryThatCost: lastRetryCost)
                return result
            } catch {
                if error.isClockSkew, !correctedClock, let serverDate = error.serverDate {
                    // Sign with S3's clock from now on; one immediate retry.
                    clock.correct(serverTime: serverDate, localTime: configuration.now())
                    correctedClock = true
                    logger.warning(
                        "clock skew corrected",
                        metadata: ["operation": "\(operation)", "offset_seconds": "\(clock.offsetSeconds)"]
                    )
                    continue
                }
                // A cancelled caller (the client went away) gets no retries.
                if Task.isCancelled { throw S3Error.transport("Cancelled", "the request was cancelled", operation: operation) }
                guard error.isRetryable, configuration.retry.allowsAttempt(after: attemptNumber) else { throw error }
                let timedOut = error.code == "Timeout"
                guard budget.withdraw(afterTimeout: timedOut) else {
                    logger.warning("retry budget spent; not retrying", metadata: ["operation": "\(operation)", "code": "\(error.code)"])
                    throw error
                }
                lastRetryCost = timedOut ? budget.timeoutCost : budget.retryCost
                configuration.observer?.retrying(operation, code: error.code)
                let delay = configuration.retry.delay(beforeRetry: attemptNumber - 1, unitRandom: configuration.random())
                logger.info(
                    "retrying",
                    metadata: ["operation": "\(operation)", "code": "\(error.code)", "attempt": "\(attemptNumber)", "delay": "\(delay)"]
                )
                do {
                    try await configuration.sleep(delay)
                } catch {
                    throw S3Error.transport("Cancelled", "the request was cancelled", operation: operation)
                }
                attemptNumber += 1
            }
        }
    }

    private func prepare(
        method: HTTPMethod,
        key: String?,
        query: [QueryItem],
        headers: [HeaderField],
        body: ByteBuffer?,
        payload: Payload
    ) -> HTTPClientRequest {
        let (host, path) = endpoint.location(bucket: bucket, key: key)
        let signing = SigningRequest(method: method.rawValue, host: host, path: path, query: query, headers: headers)
        let signed = signer.signHeaders(signing, payload: payload, time: clock.signingTime(now: configuration.now()))
        var url = endpoint.scheme.rawValue + "://" + host + URIEncoding.path(path)
        if !query.isEmpty { url += "?" + URIEncoding.query(query) }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for field in headers { request.headers.add(name: field.name, value: field.value) }
        for field in signed.fields { request.headers.add(name: field.name, value: field.value) }
        if let body {
            request.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
            request.body = .bytes(body)
        } else if method == .PUT || method == .POST {
            request.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        return request
    }

    // MARK: Errors

    static func error(status: Int, headers: HTTPHeaders, body: ByteBuffer, operation: String) -> S3Error {
        if let document = S3ErrorDocument(body.readableBytesView) {
            return error(status: status, document: document, headers: headers, operation: operation)
        }
        // HEAD answers and some proxies carry no document: the status says what it can.
        let code: String
        switch status {
        case 301: code = "PermanentRedirect"
        case 400: code = "BadRequest"
        case 403: code = "AccessDenied"
        case 404: code = operation == "HeadObject" || operation == "GetObject" ? "NoSuchKey" : "NotFound"
        case 500: code = "InternalError"
        case 503: code = "SlowDown"
        default: code = "HTTP\(status)"
        }
        var error = S3Error(
            status: status,
            code: code,
            message: "",
            requestId: headers.first(name: "x-amz-request-id"),
            bucketRegion: headers.first(name: "x-amz-bucket-region"),
            operation: operation
        )
        error.serverDate = headers.first(name: "date").flatMap(HTTPDate.parse)
        return error
    }

    static func error(status: Int, document: S3ErrorDocument, headers: HTTPHeaders, operation: String) -> S3Error {
        var error = S3Error(
            status: status,
            code: document.code,
            message: document.message,
            requestId: document.requestId ?? headers.first(name: "x-amz-request-id"),
            bucketRegion: document.region ?? headers.first(name: "x-amz-bucket-region"),
            operation: operation
        )
        error.serverDate = headers.first(name: "date").flatMap(HTTPDate.parse) ?? document.serverTime.flatMap(HTTPDate.parseISO8601)
        return error
    }

    /// An answer's body, read by `deadline`: the request's deadline covers the head only, and an answer that
    /// trickles (a byte a second keeps the idle timeout from ever firing) must end too. The deadline is a timer on
    /// an event loop, cancelled when the body is in: a cancelled `Task.sleep` keeps its task and timer until its
    /// deadline, about 700 bytes for up to `requestTimeout` (300 s) after every S3 call, which the soak saw
    /// as heap scattered with thousands of them.
    static func collect(
        _ body: HTTPClientResponse.Body,
        upTo limit: Int,
        by deadline: NIODeadline,
        on group: any EventLoopGroup
    )
        async throws -> ByteBuffer
    {
        let collecting = Task { try await body.collect(upTo: limit) }
        let timedOut = NIOLockedValueBox(false)
        let timer = group.any().scheduleTask(deadline: deadline) {
            timedOut.withLockedValue { $0 = true }
            collecting.cancel()
        }
        defer { timer.cancel() }
        let collected = try await withTaskCancellationHandler {
            try await collecting.value
        } onCancel: {
            collecting.cancel()
        }
        // A cancelled read may end early instead of throwing: past the deadline nothing read counts.
        if timedOut.withLockedValue({ $0 }) { throw HTTPClientError.deadlineExceeded }
        return collected
    }

    static func transportError(_ error: any Error, operation: String) -> S3Error {
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout, .deadlineExceeded, .writeTimeout:
                return .transport("Timeout", "no answer in time", operation: operation)
            case .connectTimeout, .tlsHandshakeTimeout:
                return .transport("ConnectTimeout", "could not connect in time", operation: operation)
            case .remoteConnectionClosed:
                return .transport("ConnectionReset", "the connection was closed before the answer", operation: operation)
            case .cancelled:
                return .transport("Cancelled", "the request was cancelled", operation: operation)
            case .bodyLengthMismatch:
                return .transport("BodyLengthMismatch", "the body was not the announced length", operation: operation)
            default:
                return .transport("HTTPClientError", "\(error)", operation: operation)
            }
        }
        if error is CancellationError { return .transport("Cancelled", "the request was cancelled", operation: operation) }
        if error is NIOTooManyBytesError {
            return .transport("ResponseTooLarge", "the answer was larger than S3's answers to this request can be", operation: operation)
        }
        return .transport("ConnectionFailed", "\(error)", operation: operation)
    }

    // MARK: Helpers

    static func sha256(of body: ByteBuffer) -> Payload {
        ObjectChecksum.sha256(body.readableBytesView).payload
    }

    static func xmlEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
