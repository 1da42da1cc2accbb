/// The fields of S3's XML error document (`<Error><Code>…</Code><Message>…</Message>…</Error>`,
/// "Error responses" in the Amazon S3 API reference). S3 error documents are flat, so a small scanner
/// reads them; no XML parser is needed.
public struct S3ErrorDocument: Sendable, Hashable {
    public var code: String
    public var message: String
    public var requestId: String?
    /// The bucket's real region, in `AuthorizationHeaderMalformed` and `PermanentRedirect` answers.
    public var region: String?
    /// The server's clock, in `RequestTimeTooSkewed` answers.
    public var serverTime: String?

    /// Reads an error document; nil when `body` is not one (a 200 with a real result, or an empty body).
    public init?(_ body: some Collection<UInt8>) {
        let text = String(decoding: body, as: UTF8.self)
        guard let inner = XMLScan.element("Error", in: Substring(text)), let code = XMLScan.string("Code", in: inner) else { return nil }
        self.code = code
        self.message = XMLScan.string("Message", in: inner) ?? ""
        self.requestId = XMLScan.string("RequestId", in: inner)
        self.region = XMLScan.string("Region", in: inner)
        self.serverTime = XMLScan.string("ServerTime", in: inner)
    }

    public init(code: String, message: String, requestId: String? = nil, region: String? = nil, serverTime: String? = nil) {
        self.code = code
        self.message = message
        self.requestId = requestId
        self.region = region
        self.serverTime = serverTime
    }
}
