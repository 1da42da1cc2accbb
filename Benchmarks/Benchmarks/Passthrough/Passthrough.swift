import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The floor of the gateway's own stack for one small store: a Hummingbird server that passes each PUT on
/// to S3 through AsyncHTTPClient, the body collected first as the gateway collects a store shorter than a
/// part, and nothing else: no hash, no spool, no index, no signing (the client's SigV4 headers go on
/// unchanged, as nginx passes them). `stores-vs-curl.sh` measures it beside curl and nginx, so what the
/// gateway spends per store can be split into what these libraries spend and what the gateway adds.
///
/// Usage: Passthrough PORT UPSTREAM_HOST:PORT   (bodies up to 64 MiB; it does not answer `Expect: 100-continue`,
/// so curl should not wait for it: `--expect100-timeout 0.001`)
@main
struct Passthrough {
    static let maxBody = 64 << 20
    /// Headers that belong to one hop, not passed on.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "expect", "transfer-encoding", "te", "upgrade"]

    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3, let port = Int(arguments[1]) else {
            FileHandle.standardError.write(Data("usage: Passthrough PORT UPSTREAM_HOST:PORT\n".utf8))
            exit(2)
        }
        let upstream = arguments[2]
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let router = Router()
        router.put("**") { request, _ -> Response in
            var out = HTTPClientRequest(url: "http://\(upstream)\(request.uri.description)")
            out.method = .PUT
            // The client signed the Host it sent (HTTP types keep it as the authority), so it goes on as it came.
            if let authority = request.head.authority { out.headers.add(name: "Host", value: authority) }
            for field in request.headers where !hopByHop.contains(field.name.canonicalName) {
                out.headers.add(name: field.name.rawName, value: field.value)
            }
            out.body = .bytes(try await request.body.collect(upTo: maxBody))
            let answer = try await client.execute(out, timeout: .seconds(300))
            let bytes = try await answer.body.collect(upTo: 1 << 20)
            var headers = HTTPFields()
            if let etag = answer.headers.first(name: "ETag"), let name = HTTPField.Name("ETag") { headers[name] = etag }
            return Response(
                status: HTTPResponse.Status(code: Int(answer.status.code)),
                headers: headers,
                body: ResponseBody(byteBuffer: bytes)
            )
        }
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port))
        )
        try await app.runService()
        try await client.shutdown()
    }
}
