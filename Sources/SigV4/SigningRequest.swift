/// The parts of an HTTP request that SigV4 signs.
public struct SigningRequest: Sendable {
    /// `GET`, `PUT`, ... as sent.
    public var method: String
    /// The `Host` header value: the host name, with `:port` when the port is not the scheme's default.
    public var host: String
    /// For S3 (`PathRule.s3`): the path NOT encoded, e.g. `/bucket/a b+c.mp3`; the signer encodes it exactly once.
    /// For other services (`PathRule.normalized`): the path as sent on the wire.
    public var path: String
    /// Query parameters, not encoded.
    public var query: [QueryItem]
    /// Headers to sign besides `host` and the ones the signer adds. Repeated names are kept in order.
    public var headers: [HeaderField]

    public init(method: String, host: String, path: String, query: [QueryItem] = [], headers: [HeaderField] = []) {
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// How the request path becomes the canonical URI.
public enum PathRule: Sendable, Hashable {
    /// S3: the path is encoded exactly once and never normalised (`//`, `.` and `..` stay).
    case s3
    /// Every other service: dot segments and empty segments are removed, then the wire path is encoded
    /// again (AWS's "double encoding").
    case normalized
}

/// What header signing adds to the request.
public struct SignedHeaders: Sendable {
    /// Headers to send in addition to the request's own: `x-amz-date`, `x-amz-content-sha256` (when asked for),
    /// `x-amz-security-token` (with a session token) and `authorization`.
    public var fields: [HeaderField]
    /// The hex signature (also inside `authorization`).
    public var signature: String

    /// The value of the `Authorization` header.
    public var authorization: String {
        fields.last(where: { $0.name == "authorization" })?.value ?? ""
    }
}

/// A presigned request: the URL to hand out, and its signature.
public struct PresignedURL: Sendable, CustomStringConvertible {
    /// `scheme://host/path?query&X-Amz-...&X-Amz-Signature=...`
    public var url: String

    /// The hex signature: the last 64 characters of the URL.
    public var signature: String { String(url.utf8.suffix(64)) ?? "" }

    /// The URL with its signature replaced, for logs: a presigned URL is a bearer credential.
    public var description: String {
        // The signature is always the last parameter.
        String(url.utf8.dropLast(64)).map { $0 + "<redacted>" } ?? "<redacted>"
    }
}

/// The intermediate strings of one signing, named as in AWS's SigV4 documentation; for tests and debugging.
public struct SigningStages: Sendable {
    public var canonicalRequest: String
    public var stringToSign: String
    public var signature: String
}
