import HTTPTypes

/// How a fetch is answered, decided in one place for the route and the event-loop fast path.
enum FetchPlan: Sendable, Hashable {
    /// The recording still waits in the spool (S3 failed when it was stored): streamed from there.
    case fromSpool
    /// `HEAD`: S3's size and type.
    case headFromS3
    /// The gateway streams the bytes: the account says `proxy`, or the request carries an
    /// `Authorization` header (Erlang's httpc would forward it to S3, which refuses it, and it would leak).
    case proxy
    /// A 302 to a short-lived presigned URL.
    case redirect

    static func choose(method: HTTPRequest.Method, hasAuthorization: Bool, downloadMode: Account.DownloadMode, inSpool: Bool) -> FetchPlan {
        if inSpool { return .fromSpool }
        if method == .head { return .headFromS3 }
        if hasAuthorization || downloadMode == .proxy { return .proxy }
        return .redirect
    }
}
