import Foundation
import SigV4
import Testing

/// botocore's own output for S3 (90 cases): canonical request, string to sign and signature must match exactly.
struct BotocoreTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        var name: String
        var kind: String
        var method: String
        var url: String
        var key: String
        var headers: [String: String]
        var body_hex: String
        var payload: String
        var access_key_id: String
        var secret_access_key: String
        var session_token: String?
        var region: String
        var service: String
        var timestamp: String
        var canonical_request: String
        var string_to_sign: String
        var signature: String
        var authorization: String?
        var signed_headers_sent: [String: String]?
        var expires: Int?
        var presigned_url: String?

        var testDescription: String { name }
    }

    struct File: Decodable {
        var generator: String
        var cases: [Case]
    }

    static let cases: [Case] = (try? JSONDecoder().decode(File.self, from: Fixtures.data("s3-botocore.json")).cases) ?? []

    @Test func fileHasAllCases() {
        #expect(Self.cases.count == 90)
        #expect(Self.cases.filter { $0.kind == "presign" }.count == 30)
    }

    @Test(arguments: cases)
    func matchesBotocore(_ testCase: Case) throws {
        let parts = try URLParts(testCase.url)
        // The raw path is the encoded URL path decoded once; it must end with the key.
        let rawPath = try #require(URIEncoding.decode(parts.path))
        #expect(rawPath.hasSuffix(testCase.key))
        let request = SigningRequest(
            method: testCase.method,
            host: parts.host,
            path: rawPath,
            query: parts.query,
            headers: testCase.headers.map { HeaderField($0.key, $0.value) }
        )
        let signer = SigV4Signer(
            credentials: Credentials(
                accessKeyId: testCase.access_key_id,
                secretAccessKey: testCase.secret_access_key,
                sessionToken: testCase.session_token
            ),
            region: testCase.region,
            service: testCase.service
        )
        let time = try #require(SigningTime(amzDate: testCase.timestamp))
        let payload: Payload = testCase.payload == "UNSIGNED-PAYLOAD" ? .unsigned : .sha256Hex(testCase.payload)
        if case .sha256Hex(let hex) = payload {
            #expect(Payload.sha256(of: Self.bytes(hex: testCase.body_hex)) == .sha256Hex(hex))
        }

        if testCase.kind == "presign" {
            let (url, stages) = try signer.presigningStages(
                request,
                scheme: parts.scheme,
                expires: try #require(testCase.expires),
                time: time,
                payload: payload
            )
            #expect(stages.canonicalRequest == testCase.canonical_request)
            #expect(stages.stringToSign == testCase.string_to_sign)
            #expect(stages.signature == testCase.signature)
            #expect(url.url == testCase.presigned_url)
        } else {
            let stages = signer.headerSigningStages(request, payload: payload, time: time)
            #expect(stages.canonicalRequest == testCase.canonical_request)
            #expect(stages.stringToSign == testCase.string_to_sign)
            #expect(stages.signature == testCase.signature)
            let signed = signer.signHeaders(request, payload: payload, time: time)
            #expect(signed.authorization == testCase.authorization)
            // Every header botocore sent besides the request's own is one the signer adds, with the same value.
            let ours = Dictionary(signed.fields.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
            for (name, value) in testCase.signed_headers_sent ?? [:] where testCase.headers[name] == nil {
                #expect(ours[name.lowercased()] == value, "\(name)")
            }
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
        }
        return out
    }
}

/// A URL split the way S3 signing needs it, without Foundation's URL (which may re-encode the path).
struct URLParts {
    var scheme: String
    var host: String
    var path: String
    var query: [QueryItem]

    init(_ url: String) throws {
        guard let schemeEnd = url.range(of: "://") else { throw SuiteError("no scheme in \(url)") }
        scheme = String(url[..<schemeEnd.lowerBound])
        let rest = url[schemeEnd.upperBound...]
        let hostEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        host = String(rest[..<hostEnd])
        let target = rest[hostEnd...]
        let split = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(split[0])
        query = split.count > 1 ? SuiteCase.parseQuery(String(split[1])) : []
    }
}
