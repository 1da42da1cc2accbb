import Foundation
public import Hummingbird

/// An error answered to a client: a status and `{"error": {"code": ..., "message": ...}}`.
/// Messages are written for the person reading KAZOO's logs and never contain a token or a secret.
public struct GatewayError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Sent as `Retry-After` (503: KAZOO retries).
    public let retryAfterSeconds: Int?
    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var response = JSONResponse.make(status, ["error": ["code": code, "message": message]])
        if let retryAfterSeconds { response.headers[.retryAfter] = "\(retryAfterSeconds)" }
        return response
    }

    static let unauthorized = GatewayError(
        .unauthorized,
        "unauthorized",
        "no valid client token: the storage URL must be <gateway>/k/<token>/... as printed by `recording-gateway accounts add`"
    )
    static let forbiddenOtherAccount = GatewayError(
        .forbidden,
        "wrong_account",
        "this token belongs to another KAZOO account than the one the request names; each account has its own storage URL"
    )
    static let disabled = GatewayError(.forbidden, "account_disabled", "this account is disabled on the gateway")
    static let notFound = GatewayError(.notFound, "not_found", "no such recording")

    static func badPath(_ message: String) -> GatewayError { GatewayError(.badRequest, "invalid_path", message) }
}
