import Hummingbird

/// Guards the admin JSON API: every path under `/api/` needs `Authorization: Bearer <admin token>`,
/// checked before routing, so a caller without the token learns nothing, not even which routes exist.
/// Without a configured token the API is closed. API answers are never cached.
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The admin token's hash (compared in constant time with the presented token's); nil: the API is closed.
    let tokenHash: String?

    init(adminToken: String?) {
        tokenHash = adminToken.map(ClientToken.hash)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        guard let tokenHash else {
            throw GatewayError(.unauthorized, "admin_api_closed", "set admin_token in the configuration (or RG_ADMIN_TOKEN) to use the admin API")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            ClientToken.hashesMatch(ClientToken.hash(String(header.dropFirst("Bearer ".count))), tokenHash)
        else {
            throw GatewayError(.unauthorized, "unauthorized", "send Authorization: Bearer <admin token>")
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

/// Anything the router does not know answers as every other admin refusal does (JSON, `not_found`).
struct AdminNotFoundMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            throw GatewayError(.notFound, "not_found", "no such admin route")
        }
    }
}
