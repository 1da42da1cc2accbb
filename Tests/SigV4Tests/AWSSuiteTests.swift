import Foundation
import SigV4
import Testing

/// AWS's SigV4 test suite (aws-c-auth): every case, header signing and presigning, stage by stage.
struct AWSSuiteTests {
    static let caseNames: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.appendingPathComponent("sigv4-suite").path)) ?? []
        return names.filter { !["LICENSE", "NOTICE"].contains($0) }.sorted()
    }()

    @Test func suiteHasAllCases() {
        #expect(Self.caseNames.count == 38)
    }

    @Test(arguments: caseNames)
    func headerSigning(name: String) throws {
        let testCase = try SuiteCase(name: name)
        let stages = testCase.signer.headerSigningStages(
            testCase.request,
            payload: testCase.payload,
            time: testCase.time,
            sendsContentSHA256: testCase.context.signBody
        )
        #expect(stages.canonicalRequest == (try testCase.expected("header-canonical-request.txt")))
        #expect(stages.stringToSign == (try testCase.expected("header-string-to-sign.txt")))
        #expect(stages.signature == (try testCase.expected("header-signature.txt")))

        // The Authorization header and every header the signer adds match the signed request byte for byte.
        let signed = testCase.signer.signHeaders(
            testCase.request,
            payload: testCase.payload,
            time: testCase.time,
            sendsContentSHA256: testCase.context.signBody
        )
        let expectedHeaders = try testCase.signedRequestHeaders("header-signed-request.txt")
        for field in signed.fields {
            #expect(expectedHeaders[field.name.lowercased()] == field.value, "\(field.name)")
        }
        #expect(signed.signature == stages.signature)
    }

    @Test(arguments: caseNames)
    func presigning(name: String) throws {
        let testCase = try SuiteCase(name: name)
        let (url, stages) = try testCase.signer.presigningStages(
            testCase.request,
            expires: testCase.context.expires,
            time: testCase.time,
            payload: testCase.payload
        )
        #expect(stages.canonicalRequest == (try testCase.expected("query-canonical-request.txt")))
        #expect(stages.stringToSign == (try testCase.expected("query-string-to-sign.txt")))
        #expect(stages.signature == (try testCase.expected("query-signature.txt")))

        // Same query parameters as the expected signed request (the suite lists them in another order),
        // with X-Amz-Signature last.
        let expectedLine = try testCase.expected("query-signed-request.txt").split(separator: "\n")[0]
        let expectedTarget = expectedLine.dropFirst(testCase.request.method.count + 1).dropLast(" HTTP/1.1".count)
        let expectedQuery = expectedTarget.split(separator: "?", maxSplits: 1).last.map(String.init) ?? ""
        let ourQuery = url.url.split(separator: "?", maxSplits: 1).last.map(String.init) ?? ""
        // Compared decoded: the suite writes a non-ASCII name raw in its request line.
        func decoded(_ query: String) -> Set<QueryItem> { Set(SuiteCase.parseQuery(query)) }
        #expect(decoded(ourQuery) == decoded(expectedQuery))
        #expect(ourQuery.split(separator: "&").last == "X-Amz-Signature=\(stages.signature)")
    }
}

/// One case folder of the suite, parsed.
struct SuiteCase {
    struct Context: Decodable {
        struct Credentials: Decodable {
            var access_key_id: String
            var secret_access_key: String
            var token: String?
        }
        var credentials: Credentials
        var expiration_in_seconds: Int
        var normalize: Bool
        var region: String
        var service: String
        var sign_body: Bool
        var timestamp: String
        var omit_session_token: Bool?

        var signBody: Bool { sign_body }
        var expires: Int { expiration_in_seconds }
    }

    let name: String
    let context: Context
    let request: SigningRequest
    let body: [UInt8]
    let signer: SigV4Signer
    let time: SigningTime

    var payload: Payload { .sha256(of: body) }

    init(name: String) throws {
        self.name = name
        context = try JSONDecoder().decode(Context.self, from: Fixtures.data("sigv4-suite/\(name)/context.json"))
        let raw = try Fixtures.read("sigv4-suite/\(name)/request.txt")
        let (head, body) = Self.splitHead(raw)
        self.body = Array(body.utf8)
        var lines = head.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        let method = String(requestLine.prefix(while: { $0 != " " }))
        let target = requestLine.dropFirst(method.count + 1).dropLast(" HTTP/1.1".count)
        let pathAndQuery = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let query: [QueryItem] = pathAndQuery.count > 1 ? Self.parseQuery(String(pathAndQuery[1])) : []

        var headers: [HeaderField] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", let last = headers.popLast() {
                headers.append(HeaderField(last.name, last.value + "\n" + line))  // folded continuation line
                continue
            }
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            headers.append(HeaderField(String(parts[0]), parts.count > 1 ? String(parts[1]) : ""))
        }
        let host = headers.first(where: { $0.name.lowercased() == "host" })?.value ?? ""
        headers.removeAll { $0.name.lowercased() == "host" }
        request = SigningRequest(method: method, host: host, path: String(pathAndQuery[0]), query: query, headers: headers)
        signer = SigV4Signer(
            credentials: Credentials(
                accessKeyId: context.credentials.access_key_id,
                secretAccessKey: context.credentials.secret_access_key,
                sessionToken: context.credentials.token
            ),
            region: context.region,
            service: context.service,
            pathRule: context.normalize ? .normalized : .s3,
            signsSessionToken: !(context.omit_session_token ?? false)
        )
        guard let date = ISO8601DateFormatter().date(from: context.timestamp) else {
            throw SuiteError("bad timestamp \(context.timestamp)")
        }
        time = SigningTime(date)
    }

    func expected(_ file: String) throws -> String {
        try Fixtures.read("sigv4-suite/\(name)/\(file)")
    }

    /// Header names (lowercased) and values of an expected signed request.
    func signedRequestHeaders(_ file: String) throws -> [String: String] {
        let (head, _) = Self.splitHead(try expected(file))
        var result: [String: String] = [:]
        for line in head.components(separatedBy: "\n").dropFirst() where !line.isEmpty && line.first != " " {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { result[parts[0].lowercased()] = String(parts[1]) }
        }
        return result
    }

    static func splitHead(_ raw: String) -> (head: String, body: String) {
        if let range = raw.range(of: "\n\n") {
            return (String(raw[..<range.lowerBound]), String(raw[range.upperBound...]))
        }
        return (raw.hasSuffix("\n") ? String(raw.dropLast()) : raw, "")
    }

    static func parseQuery(_ query: String) -> [QueryItem] {
        query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = URIEncoding.decode(parts[0]) ?? String(parts[0])
            let value = parts.count > 1 ? (URIEncoding.decode(parts[1]) ?? String(parts[1])) : ""
            return QueryItem(name, value)
        }
    }
}

struct SuiteError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
