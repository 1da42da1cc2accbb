import Foundation
import Hummingbird
import KazooWire

/// Who a `/k/...` request is for: the token in the path (`/k/<token>/<path>`), or, for clients that
/// cannot put it there, `Authorization: Basic` with the account id as user name and the token as
/// password (`/k/<path>`). Anything that names another account than the one authenticated is refused.
struct RequestAuthentication {
    let entry: AccountDirectory.Entry
    /// The decoded path segments after the token (or after `/k/` with Basic credentials).
    let segments: [String]

    static func authenticate(_ request: Request, directory: AccountDirectory) throws(GatewayError) -> RequestAuthentication {
        try authenticate(path: request.uri.path, query: request.uri.query, authorization: request.headers[.authorization], directory: directory)
    }

    /// - Parameters: the raw (percent-encoded) path and query, and the `Authorization` header if any.
    static func authenticate(
        path: String,
        query: String?,
        authorization: String?,
        directory: AccountDirectory
    ) throws(GatewayError)
        -> RequestAuthentication
    {
        guard path.utf8.starts(with: "/k/".utf8) else { throw GatewayError.notFound }
        let rest = path[path.utf8.index(path.startIndex, offsetBy: 3)...]
        let tokenEnd = rest.utf8.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        let tokenText = rest[..<tokenEnd]
        let basic = basicCredentials(authorization)

        var entry: AccountDirectory.Entry?
        var rawPath = rest
        if ClientToken.looksLikeToken(tokenText), let found = directory.entry(forTokenHash: ClientToken.hash(tokenText)) {
            entry = found
            rawPath = tokenEnd == rest.endIndex ? rest[tokenEnd...] : rest[rest.utf8.index(after: tokenEnd)...]
            // Basic credentials that name another account contradict the token.
            if let basic, Account.isValidAccountId(basic.user), basic.user != found.account.accountId { throw GatewayError.forbiddenOtherAccount }
        } else if let basic, let found = directory.entry(forAccountId: basic.user),
            ClientToken.hashesMatch(ClientToken.hash(basic.password), found.tokenHash)
        {
            entry = found
        }
        guard let entry else { throw GatewayError.unauthorized }
        guard entry.account.enabled else { throw GatewayError.disabled }

        let segments: [String]
        do {
            segments = try ObjectKey.segments(ofRawPath: rawPath)
        } catch {
            throw GatewayError.badPath(error.message)
        }
        let accountId = entry.account.accountId
        if let first = segments.first, Account.isValidAccountId(first), first != accountId { throw GatewayError.forbiddenOtherAccount }
        if let query, query.utf8.firstRange(of: "account_id".utf8) != nil {
            for pair in RecordingMetadata.queryPairs(query) where pair.name == "account_id" && pair.value != accountId {
                throw GatewayError.forbiddenOtherAccount
            }
        }
        return RequestAuthentication(entry: entry, segments: segments)
    }

    static func basicCredentials(_ header: String?) -> (user: String, password: String)? {
        guard let header, header.count > 6, header.prefix(6).lowercased() == "basic ",
            let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The path for logs: the segment that holds the token replaced, never printed.
    static func redactedPath(_ path: String) -> String {
        guard path.hasPrefix("/k/") else { return path }
        let rest = path.dropFirst(3)
        // Whatever the first segment is (a token, a mistyped token, an account id), it is not printed.
        let first = rest.prefix(while: { $0 != "/" })
        return "/k/<token>" + rest.dropFirst(first.count)
    }
}
