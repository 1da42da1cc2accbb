import AsyncHTTPClient
import Foundation
import NIOHTTP1
import SigV4

/// Where the load goes: the gateway as KAZOO reaches it, or the S3 endpoint itself with presigned URLs
/// (the same recordings, always raw: S3 stores a body as it comes), so the gateway's cost is a ratio.
enum LoadTarget: Sendable {
    /// `storageURL` is the storage document's `url` (`https://gw.example.com/k/<token>`).
    case gateway(storageURL: String)
    case directS3(endpoint: URL, bucket: String, signer: SigV4Signer)

    var mode: String {
        if case .gateway = self { return "gateway" }
        return "direct-s3"
    }

    /// The store request for `call`, its body produced as it is sent, and the body's length. S3 itself is sent
    /// the recording raw, whatever form KAZOO would have used.
    func store(_ call: PlannedCall) throws -> (HTTPClientRequest, Int) {
        let url: String
        let body: StoreBody
        switch self {
        case .gateway(let storageURL):
            (url, body) = (Self.trimmed(storageURL) + "/" + call.segment, StoreBody(call: call, form: call.form))
        case .directS3:
            (url, body) = (try presigned("PUT", call), StoreBody(call: call, form: .raw))
        }
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Content-Type", value: body.contentType)
        request.body = body.httpBody
        return (request, body.length)
    }

    /// The fetch KAZOO makes: the stored URL, the segment again, and the document's metadata as the query.
    func fetch(_ call: PlannedCall) throws -> HTTPClientRequest {
        switch self {
        case .gateway(let storageURL):
            let query = call.metadata.map { Self.encoded($0.0) + "=" + Self.encoded($0.1) }.joined(separator: "&")
            return HTTPClientRequest(url: Self.trimmed(storageURL) + "/" + call.segment + "/" + call.segment + "?" + query)
        case .directS3:
            return HTTPClientRequest(url: try presigned("GET", call))
        }
    }

    private func presigned(_ method: String, _ call: PlannedCall) throws -> String {
        guard case .directS3(let endpoint, let bucket, let signer) = self, let host = endpoint.host else {
            throw LoadError("the S3 endpoint has no host")
        }
        let authority = endpoint.port.map { "\(host):\($0)" } ?? host
        let request = SigningRequest(method: method, host: authority, path: "/\(bucket)/\(call.segment)")
        return try signer.presign(request, scheme: endpoint.scheme ?? "https", expires: 3600, time: SigningTime(Date())).url
    }

    private static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    private static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
