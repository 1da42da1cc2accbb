import Foundation
import Hummingbird

/// A small JSON answer (errors, store confirmations, health), keys sorted, length given.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ object: [String: Any], noStore: Bool = true) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", .contentLength: "\(data.count)"]
        if noStore { headers[.cacheControl] = "no-store" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
