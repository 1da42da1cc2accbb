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
        let amzDate = time.amzDate
        var added: [HeaderField] = [HeaderField("x-amz-date", amzDate)]
        if sendsContentSHA256 { added.append(HeaderField("x-amz-content-sha256", payload.value)) }
        var unsignedToken: HeaderField?
        if let token = credentials.sessionToken {
            if signsSessionToken {
                added.append(HeaderField("x-amz-security-token", token))
            } else {
                unsignedToken = HeaderField("x-amz-security-token", token)
            }
        }

        var canonical: [UInt8] = []
        canonical.reserveCapacity(512)
        var signedNames: [UInt8] = []
        signedNames.reserveCapacity(96)
        canonical.append(contentsOf: request.method.utf8)
        canonical.append(UInt8(ascii: "\n"))
        CanonicalRequest.writePath(request.path, rule: pathRule, to: &canonical)
        canonical.append(UInt8(ascii: "\n"))
        if !request.query.isEmpty {
            var query = EncodedQuery(capacity: 128)
            for item in request.query { query.append(item.name, item.value.utf8) }
            query.writeCanonical(to: &canonical)
        }
        canonical.append(UInt8(ascii: "\n"))
        CanonicalRequest.writeHeaders(
            host: request.host,
            headers: request.headers,
            extra: added,
            canonical: &canonical,
            signedNames: &signedNames
        )
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: signedNames)
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: payload.value.utf8)

        var stringToSign: [UInt8] = []
        let signature = sign(canonicalRequest: canonical, time: time, stringToSign: &stringToSign)

        var authorization: [UInt8] = []
        authorization.reserveCapacity(256)
        authorization.append(contentsOf: "AWS4-HMAC-SHA256 Credential=".utf8)
        authorization.append(contentsOf: credentials.accessKeyId.utf8)
        authorization.append(UInt8(ascii: "/"))
        appendScope(time: time, to: &authorization)
        authorization.append(contentsOf: ", SignedHeaders=".utf8)
        authorization.append(contentsOf: signedNames)
        authorization.append(contentsOf: ", Signature=".utf8)
        authorization.append(contentsOf: signature)

        if let unsignedToken { added.append(unsignedToken) }
        added.append(HeaderField("authorization", String(decoding: authorization, as: UTF8.self)))
        let signatureString = String(decoding: signature, as: UTF8.self)
        let stages =
            keepStages
            ? SigningStages(
                canonicalRequest: String(decoding: canonical, as: UTF8.self),
                stringToSign: String(decoding: stringToSign, as: UTF8.self),
                signature: signatureString
            ) : nil
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

        var canonical: [UInt8] = []
        canonical.reserveCapacity(640)
        var signedNames: [UInt8] = []
        signedNames.reserveCapacity(32)

        canonical.append(contentsOf: request.method.utf8)
        canonical.append(UInt8(ascii: "\n"))
        let pathStart = canonical.count
        CanonicalRequest.writePath(request.path, rule: pathRule, to: &canonical)
        let pathEnd = canonical.count
        canonical.append(UInt8(ascii: "\n"))

        // The headers come first so that X-Amz-SignedHeaders is known; they are appended after the query.
        var headerBlock: [UInt8] = []
        headerBlock.reserveCapacity(request.host.utf8.count + 16)
        CanonicalRequest.writeHeaders(host: request.host, headers: request.headers, extra: [], canonical: &headerBlock, signedNames: &signedNames)

        var query = EncodedQuery(capacity: 256 + (credentials.sessionToken?.utf8.count ?? 0) * 2)
        for item in request.query { query.append(item.name, item.value.utf8) }
        query.append("X-Amz-Algorithm", "AWS4-HMAC-SHA256".utf8)
        var credential: [UInt8] = []
        credential.reserveCapacity(96)
        credential.append(contentsOf: credentials.accessKeyId.utf8)
        credential.append(UInt8(ascii: "/"))
        appendScope(time: time, to: &credential)
        query.append("X-Amz-Credential", credential)
        var amzDate: [UInt8] = []
        amzDate.reserveCapacity(16)
        time.appendAmzDate(to: &amzDate)
        query.append("X-Amz-Date", amzDate)
        query.append("X-Amz-Expires", String(expires).utf8)
        query.append("X-Amz-SignedHeaders", signedNames)
        if signsSessionToken, let token = credentials.sessionToken {
            query.append("X-Amz-Security-Token", token.utf8)
        }
        query.writeCanonical(to: &canonical)
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: headerBlock)
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: signedNames)
        canonical.append(UInt8(ascii: "\n"))
        canonical.append(contentsOf: payload.value.utf8)

        var stringToSign: [UInt8] = []
        let signature = sign(canonicalRequest: canonical, time: time, stringToSign: &stringToSign)

        var url: [UInt8] = []
        url.reserveCapacity(scheme.utf8.count + request.host.utf8.count + (pathEnd - pathStart) + query.bytes.count + 160)
        url.append(contentsOf: scheme.utf8)
        url.append(contentsOf: "://".utf8)
        url.append(contentsOf: request.host.utf8)
        switch pathRule {
        case .s3: url.append(contentsOf: canonical[pathStart..<pathEnd])
        case .normalized: url.append(contentsOf: request.path.utf8)
        }
        url.append(UInt8(ascii: "?"))
        query.writeInOrder(to: &url)
        if !signsSessionToken, let token = credentials.sessionToken {
            url.append(contentsOf: "&X-Amz-Security-Token=".utf8)
            URIEncoding.appendComponent(token.utf8, to: &url)
        }
        url.append(contentsOf: "&X-Amz-Signature=".utf8)
        url.append(contentsOf: signature)

        let signatureString = String(decoding: signature, as: UTF8.self)
        let presigned = PresignedURL(url: String(decoding: url, as: UTF8.self), signature: signatureString)
        let stages =
            keepStages
            ? SigningStages(
                canonicalRequest: String(decoding: canonical, as: UTF8.self),
                stringToSign: String(decoding: stringToSign, as: UTF8.self),
                signature: signatureString
            ) : nil
        return (presigned, stages)
    }

    // MARK: Shared stages

    /// `YYYYMMDD/region/service/aws4_request`
    private func appendScope(time: SigningTime, to buffer: inout [UInt8]) {
        time.appendDateStamp(to: &buffer)
        buffer.append(UInt8(ascii: "/"))
        buffer.append(contentsOf: region.utf8)
        buffer.append(UInt8(ascii: "/"))
        buffer.append(contentsOf: service.utf8)
        buffer.append(contentsOf: "/aws4_request".utf8)
    }

    /// Hashes the canonical request into the string to sign (written to `stringToSign`) and returns the hex signature.
    private func sign(canonicalRequest: [UInt8], time: SigningTime, stringToSign: inout [UInt8]) -> [UInt8] {
        stringToSign.reserveCapacity(160)
        stringToSign.append(contentsOf: "AWS4-HMAC-SHA256\n".utf8)
        time.appendAmzDate(to: &stringToSign)
        stringToSign.append(UInt8(ascii: "\n"))
        appendScope(time: time, to: &stringToSign)
        stringToSign.append(UInt8(ascii: "\n"))
        let digest = SHA256.hash(data: canonicalRequest)
        digest.withUnsafeBytes { Hex.append($0, to: &stringToSign) }

        let key = signingKey(time: time)
        let mac = HMAC<SHA256>.authenticationCode(for: stringToSign, using: key)
        var signature: [UInt8] = []
        signature.reserveCapacity(64)
        mac.withUnsafeBytes { Hex.append($0, to: &signature) }
        return signature
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"), cached per day.
    private func signingKey(time: SigningTime) -> SymmetricKey {
        keys.key(forDay: time.day) {
            var dateStamp: [UInt8] = []
            time.appendDateStamp(to: &dateStamp)
            let secret = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
            let kDate = HMAC<SHA256>.authenticationCode(for: dateStamp, using: secret)
            let kRegion = HMAC<SHA256>.authenticationCode(for: Array(region.utf8), using: SymmetricKey(data: kDate))
            let kService = HMAC<SHA256>.authenticationCode(for: Array(service.utf8), using: SymmetricKey(data: kRegion))
            let kSigning = HMAC<SHA256>.authenticationCode(for: Array("aws4_request".utf8), using: SymmetricKey(data: kService))
            return SymmetricKey(data: kSigning)
        }
    }
}
