import Crypto

/// AWS Signature Version 4 for one set of credentials, one region and one service.
///
/// Stages follow AWS's documentation ("Create a canonical request", "Create a string to sign",
/// "Derive a signing key", "Calculate the signature"). The signing key is derived once per UTC day
/// and cached; the time is always an argument, so tests sign with fixed dates.
public struct SigV4Signer: Sendable {
    public let credentials: Credentials
    public let region: String
    public let service: String
    public let pathRule: PathRule
    /// Whether `x-amz-security-token` / `X-Amz-Security-Token` is covered by the signature (S3 and most services)
    /// or added after signing (a few services, and the suite's `post-sts-header-after` case).
    public let signsSessionToken: Bool

    private let keys = SigningKeyCache()

    /// The longest a presigned URL may live: seven days.
    public static let maximumExpiry = 604_800

    public init(
        credentials: Credentials,
        region: String,
        service: String = "s3",
        pathRule: PathRule? = nil,
        signsSessionToken: Bool = true
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.pathRule = pathRule ?? (service == "s3" ? .s3 : .normalized)
        self.signsSessionToken = signsSessionToken
    }

    // MARK: Header signing

    /// Signs `request` for the `Authorization` header.
    /// - Parameters:
    ///   - payload: the body's SHA-256 or `UNSIGNED-PAYLOAD`.
    ///   - sendsContentSHA256: adds (and signs) `x-amz-content-sha256`; S3 requires it.
    public func signHeaders(
        _ request: SigningRequest,
        payload: Payload,
        time: SigningTime,
        sendsContentSHA256: Bool = true
    )
        -> SignedHeaders
    {
        headerSigning(request, payload: payload, time: time, sendsContentSHA256: sendsContentSHA256, keepStages: false).signed
    }

    /// The canonical request, string to sign and signature of `signHeaders`, for tests and debugging.
    public func headerSigningStages(
        _ request: SigningRequest,
        payload: Payload,
        time: SigningTime,
        sendsContentSHA256: Bool = true
    ) -> SigningStages {
        let result = headerSigning(request, payload: payload, time: time, sendsContentSHA256: sendsContentSHA256, keepStages: true)
        return result.stages ?? SigningStages(canonicalRequest: "", stringToSign: "", signature: result.signed.signature)
    }

    private func headerSigning(
        _ request: SigningRequest,
        payload: Payload,
        time: SigningTime,
        sendsContentSHA256: Bool,
        keepStages: Bool
    ) -> (signed: SignedHeaders, stages: SigningStages?) {
        var scratch = ScratchBuffer(capacity: 1024 + request.path.utf8.count * 3)
        let (date, scope) = writeDateAndScope(time: time, into: &scratch)
        var added: [HeaderField] = []
        added.reserveCapacity(4)
        added.append(HeaderField("x-amz-date", scratch.string(date)))
        if sendsContentSHA256 { added.append(HeaderField("x-amz-content-sha256", payload.value)) }
        var unsignedToken: HeaderField?
        if let token = credentials.sessionToken {
            if signsSessionToken {
                added.append(HeaderField("x-amz-security-token", token))
            } else {
                unsignedToken = HeaderField("x-amz-security-token", token)
            }
        }

        let path = CanonicalRequest.writePath(request.path, rule: pathRule, into: &scratch)
        var query = EncodedQuery(capacity: request.query.count)
        for item in request.query { query.append(name: item.name, value: item.value, into: &scratch) }
        let headers = CanonicalRequest.writeHeaders(host: request.host, headers: request.headers, extra: added, into: &scratch)
        let (canonical, stringToSign, signature) = writeStages(
            method: request.method,
            path: path,
            query: &query,
            headers: headers,
            payload: payload,
            time: time,
            date: date,
            scope: scope,
            into: &scratch
        )

        let authorizationStart = scratch.count
        scratch.append("AWS4-HMAC-SHA256 Credential=" as StaticString)
        scratch.append(credentials.accessKeyId)
        scratch.append(UInt8(ascii: "/"))
        scratch.append(region: scope)
        scratch.append(", SignedHeaders=" as StaticString)
        scratch.append(region: headers.signedNames)
        scratch.append(", Signature=" as StaticString)
        scratch.append(region: signature)

        if let unsignedToken { added.append(unsignedToken) }
        added.append(HeaderField("authorization", scratch.string(authorizationStart..<scratch.count)))
        let signatureString = scratch.string(signature)
        let stages = keepStages ? scratch.stages(canonical, stringToSign, signature) : nil
        return (SignedHeaders(fields: added, signature: signatureString), stages)
    }

    // MARK: Presigning

    /// Presigns `request` as a URL valid for `expires` seconds (1...604800) from `time`.
    ///
    /// The query carries `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
    /// `X-Amz-SignedHeaders`, `X-Amz-Security-Token` with a session token, and `X-Amz-Signature` last.
    /// `request.headers` are signed too and must then be sent with the URL; a plain GET link signs `host` only.
    public func presign(
        _ request: SigningRequest,
        scheme: String = "https",
        expires: Int,
        time: SigningTime,
        payload: Payload = .unsigned
    ) throws(SigV4Error) -> PresignedURL {
        try presigning(request, scheme: scheme, expires: expires, time: time, payload: payload, keepStages: false).url
    }

    /// The canonical request, string to sign and signature of `presign`, for tests and debugging.
    public func presigningStages(
        _ request: SigningRequest,
        scheme: String = "https",
        expires: Int,
        time: SigningTime,
        payload: Payload = .unsigned
    ) throws(SigV4Error) -> (url: PresignedURL, stages: SigningStages) {
        let result = try presigning(request, scheme: scheme, expires: expires, time: time, payload: payload, keepStages: true)
        return (result.url, result.stages ?? SigningStages(canonicalRequest: "", stringToSign: "", signature: result.url.signature))
    }

    private func presigning(
        _ request: SigningRequest,
        scheme: String,
        expires: Int,
        time: SigningTime,
        payload: Payload,
        keepStages: Bool
    ) throws(SigV4Error) -> (url: PresignedURL, stages: SigningStages?) {
        guard (1...Self.maximumExpiry).contains(expires) else { throw .expiresOutOfRange(expires) }

        var scratch = ScratchBuffer(capacity: 1536 + (request.path.utf8.count + (credentials.sessionToken?.utf8.count ?? 0)) * 3)
        let (date, scope) = writeDateAndScope(time: time, into: &scratch)
        // The URL's prefix first: scheme://host
        let prefixStart = scratch.count
        scratch.append(scheme)
        scratch.append("://" as StaticString)
        scratch.append(request.host)
        let prefix = prefixStart..<scratch.count
        let path = CanonicalRequest.writePath(request.path, rule: pathRule, into: &scratch)
        let wirePath: Range<Int>
        switch pathRule {
        case .s3:
            wirePath = path
        case .normalized:
            let start = scratch.count
            scratch.append(request.path)
            wirePath = start..<scratch.count
        }
        let headers = CanonicalRequest.writeHeaders(host: request.host, headers: request.headers, extra: [], into: &scratch)

        var query = EncodedQuery(capacity: request.query.count + 7)
        for item in request.query { query.append(name: item.name, value: item.value, into: &scratch) }
        query.appendVerbatim(name: "X-Amz-Algorithm", value: "AWS4-HMAC-SHA256", into: &scratch)
        let credentialStart = scratch.count
        scratch.append("X-Amz-Credential" as StaticString)
        let credentialValue = scratch.count
        scratch.appendEncoded(credentials.accessKeyId, keepSlash: false)
        scratch.append("%2F" as StaticString)
        scratch.appendEncoded(region: scope, keepSlash: false)
        query.pairs.append((credentialStart..<credentialValue, credentialValue..<scratch.count))
        query.append(name: "X-Amz-Date", verbatimRegion: date, into: &scratch)
        let expiresStart = scratch.count
        appendDecimal(expires, to: &scratch)
        query.append(name: "X-Amz-Expires", verbatimRegion: expiresStart..<scratch.count, into: &scratch)
        query.append(name: "X-Amz-SignedHeaders", valueRegion: headers.signedNames, into: &scratch)
        if let token = credentials.sessionToken {
            query.append(name: "X-Amz-Security-Token", value: token, into: &scratch)
            if !signsSessionToken { query.pairs.removeLast() }
        }
        let urlQuery = query.write(into: &scratch)
        let unsignedToken: Range<Int>
        if !signsSessionToken, let token = credentials.sessionToken {
            let start = scratch.count
            scratch.append("&X-Amz-Security-Token=" as StaticString)
            scratch.appendEncoded(token, keepSlash: false)
            unsignedToken = start..<scratch.count
        } else {
            unsignedToken = scratch.count..<scratch.count
        }
        let (canonical, stringToSign, signature) = writeStages(
            method: request.method,
            path: path,
            query: &query,
            headers: headers,
            payload: payload,
            time: time,
            date: date,
            scope: scope,
            into: &scratch
        )

        let urlStart = scratch.count
        scratch.append(region: prefix)
        scratch.append(region: wirePath)
        scratch.append(UInt8(ascii: "?"))
        scratch.append(region: urlQuery)
        scratch.append(region: unsignedToken)
        scratch.append("&X-Amz-Signature=" as StaticString)
        scratch.append(region: signature)
        let presigned = PresignedURL(url: scratch.string(urlStart..<scratch.count))
        let stages = keepStages ? scratch.stages(canonical, stringToSign, signature) : nil
        return (presigned, stages)
    }

    // MARK: Shared stages

    private func appendDecimal(_ value: Int, to scratch: inout ScratchBuffer) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            scratch.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remaining / divisor))
            remaining %= divisor
            divisor /= 10
        }
    }

    /// The three stages shared by header signing and presigning: canonical request (its query sorted here),
    /// string to sign, signature. Returns their regions.
    private func writeStages(
        method: String,
        path: Range<Int>,
        query: inout EncodedQuery,
        headers: (canonical: Range<Int>, signedNames: Range<Int>),
        payload: Payload,
        time: SigningTime,
        date: Range<Int>,
        scope: Range<Int>,
        into scratch: inout ScratchBuffer
    ) -> (canonical: Range<Int>, stringToSign: Range<Int>, signature: Range<Int>) {
        query.sort(in: scratch)
        let canonicalQuery = query.write(into: &scratch)
        let canonical = writeCanonicalRequest(
            method: method,
            path: path,
            query: canonicalQuery,
            headers: headers,
            payload: payload,
            into: &scratch
        )
        let stringToSign = writeStringToSign(canonicalRequest: canonical, date: date, scope: scope, into: &scratch)
        let signature = writeSignature(stringToSign: stringToSign, time: time, into: &scratch)
        return (canonical, stringToSign, signature)
    }

    /// METHOD \n path \n query \n headers \n signed names \n payload
    private func writeCanonicalRequest(
        method: String,
        path: Range<Int>,
        query: Range<Int>,
        headers: (canonical: Range<Int>, signedNames: Range<Int>),
        payload: Payload,
        into scratch: inout ScratchBuffer
    ) -> Range<Int> {
        let start = scratch.count
        scratch.append(method)
        scratch.append(UInt8(ascii: "\n"))
        scratch.append(region: path)
        scratch.append(UInt8(ascii: "\n"))
        scratch.append(region: query)
        scratch.append(UInt8(ascii: "\n"))
        scratch.append(region: headers.canonical)
        scratch.append(UInt8(ascii: "\n"))
        scratch.append(region: headers.signedNames)
        scratch.append(UInt8(ascii: "\n"))
        switch payload {
        case .unsigned: scratch.append("UNSIGNED-PAYLOAD" as StaticString)
        case .sha256Hex(let hex): scratch.append(hex)
        }
        return start..<scratch.count
    }

    /// Writes `YYYYMMDDTHHMMSSZ` and then the credential scope `YYYYMMDD/region/service/aws4_request`, once per signing.
    private func writeDateAndScope(time: SigningTime, into scratch: inout ScratchBuffer) -> (date: Range<Int>, scope: Range<Int>) {
        let dateStart = scratch.count
        time.appendAmzDate(to: &scratch)
        let date = dateStart..<scratch.count
        let scopeStart = scratch.count
        scratch.append(region: dateStart..<(dateStart + 8))
        scratch.append(UInt8(ascii: "/"))
        scratch.append(region)
        scratch.append(UInt8(ascii: "/"))
        scratch.append(service)
        scratch.append("/aws4_request" as StaticString)
        return (date, scopeStart..<scratch.count)
    }

    /// AWS4-HMAC-SHA256 \n date \n scope \n hex(SHA256(canonical request))
    private func writeStringToSign(canonicalRequest: Range<Int>, date: Range<Int>, scope: Range<Int>, into scratch: inout ScratchBuffer) -> Range<Int>
    {
        var hasher = SHA256()
        scratch.withRegion(canonicalRequest) { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        let start = scratch.count
        scratch.append("AWS4-HMAC-SHA256\n" as StaticString)
        scratch.append(region: date)
        scratch.append(UInt8(ascii: "\n"))
        scratch.append(region: scope)
        scratch.append(UInt8(ascii: "\n"))
        digest.withUnsafeBytes { scratch.appendHex($0) }
        return start..<scratch.count
    }

    /// hex(HMAC-SHA256(signing key, string to sign)), from the cached inner and outer HMAC states.
    private func writeSignature(stringToSign: Range<Int>, time: SigningTime, into scratch: inout ScratchBuffer) -> Range<Int> {
        let key = signingKey(time: time)
        var inner = key.inner
        scratch.withRegion(stringToSign) { inner.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let innerDigest = inner.finalize()
        var outer = key.outer
        innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
        let mac = outer.finalize()
        let start = scratch.count
        mac.withUnsafeBytes { scratch.appendHex($0) }
        return start..<scratch.count
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"), cached per day.
    private func signingKey(time: SigningTime) -> SigningKey {
        keys.key(forDay: time.day) {
            let secret = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
            let kDate = HMAC<SHA256>.authenticationCode(for: Array(time.dateStamp.utf8), using: secret)
            let kRegion = HMAC<SHA256>.authenticationCode(for: Array(region.utf8), using: SymmetricKey(data: kDate))
            let kService = HMAC<SHA256>.authenticationCode(for: Array(service.utf8), using: SymmetricKey(data: kRegion))
            let kSigning = HMAC<SHA256>.authenticationCode(for: Array("aws4_request".utf8), using: SymmetricKey(data: kService))
            return SigningKey(kSigning.withUnsafeBytes { Array($0) })
        }
    }
}

/// A derived signing key kept as the two SHA-256 states HMAC starts from (key XOR ipad, key XOR opad),
/// so each signature hashes only the string to sign and the inner digest.
struct SigningKey: Sendable {
    let inner: SHA256
    let outer: SHA256

    init(_ key: [UInt8]) {
        var innerPad = [UInt8](repeating: 0x36, count: 64)
        var outerPad = [UInt8](repeating: 0x5C, count: 64)
        for (index, byte) in key.enumerated() where index < 64 {
            innerPad[index] ^= byte
            outerPad[index] ^= byte
        }
        var inner = SHA256()
        inner.update(data: innerPad)
        var outer = SHA256()
        outer.update(data: outerPad)
        self.inner = inner
        self.outer = outer
    }
}

extension ScratchBuffer {
    fileprivate func stages(_ canonical: Range<Int>, _ stringToSign: Range<Int>, _ signature: Range<Int>) -> SigningStages {
        SigningStages(canonicalRequest: string(canonical), stringToSign: string(stringToSign), signature: string(signature))
    }
}
