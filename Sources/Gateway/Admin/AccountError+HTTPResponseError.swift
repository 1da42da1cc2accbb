public import Hummingbird

/// A refused account operation answers the admin API as a JSON error naming the field.
extension AccountError: HTTPResponseError {
    public var status: HTTPResponse.Status {
        switch self {
        case .notFound: .notFound
        case .duplicate: .conflict
        case .invalid: .badRequest
        }
    }

    var code: String {
        switch self {
        case .notFound: "not_found"
        case .duplicate: "duplicate"
        case .invalid: "invalid"
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        GatewayError(status, code, description).response()
    }
}
