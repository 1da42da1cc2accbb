import Crypto
import Foundation
import Testing

@testable import SigV4

struct SigV4SignerTests {
    let signer = SigV4Signer(
        credentials: Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1"
    )
    let time = SigningTime(secondsSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    @Test(arguments: [0, -1, 604_801, Int.max, Int.min])
    func expiryOutsideOneToSevenDaysIsAnError(expires: Int) {
        #expect(throws: SigV4Error.expiresOutOfRange(expires)) {
            try signer.presign(SigningRequest(method: "GET", host: "h", path: "/b/k"), expires: expires, time: time)
        }
    }

    @Test(arguments: [1, 300, 604_800])
    func expiryWithinRangeIsUsedAsGiven(expires: Int) throws {
        let url = try signer.presign(SigningRequest(method: "GET", host: "h", path: "/b/k"), expires: expires, time: time)
        #expect(url.url.contains("&X-Amz-Expires=\(expires)&"))
    }

    @Test func presignedURLHasTheParametersInOrderWithSignatureLast() throws {
        let url = try signer.presign(
            SigningRequest(
                method: "GET",
                host: "s3.amazonaws.com",
                path: "/bucket/a b+c.mp3",
                query: [QueryItem("response-content-type", "audio/mpeg")]
            ),
            expires: 300,
            time: time
        )
        let query = try #require(url.url.split(separator: "?", maxSplits: 1).last)
        let names = query.split(separator: "&").map { $0.split(separator: "=")[0] }
        #expect(
            names == [
                "response-content-type", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                "X-Amz-Signature",
            ]
        )
        #expect(url.url.hasPrefix("https://s3.amazonaws.com/bucket/a%20b%2Bc.mp3?response-content-type=audio%2Fmpeg&"))
        #expect(url.url.contains("X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request"))
        #expect(url.url.contains("X-Amz-SignedHeaders=host&"))
    }

    @Test func sessionTokenIsSignedInPresignedURLs() throws {
        let withToken = SigV4Signer(
            credentials: Credentials(accessKeyId: "AKID", secretAccessKey: "SECRET", sessionToken: "tok/en+="),
            region: "us-east-1"
        )
        let (url, stages) = try withToken.presigningStages(SigningRequest(method: "GET", host: "h", path: "/b/k"), expires: 60, time: time)
        #expect(url.url.contains("&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature="))
        #expect(stages.canonicalRequest.contains("X-Amz-Security-Token=tok%2Fen%2B%3D"))
    }

    @Test func unsignableHeadersAreLeftOutAndAmzHeadersAreSigned() {
        let request = SigningRequest(
            method: "PUT",
            host: "h",
            path: "/b/k",
            headers: [
                HeaderField("User-Agent", "curl"), HeaderField("Expect", "100-continue"), HeaderField("Transfer-Encoding", "chunked"),
                HeaderField("Connection", "keep-alive"), HeaderField("Authorization", "old"), HeaderField("X-Amzn-Trace-Id", "Root=1"),
                HeaderField("X-Amz-Meta-Call-Id", "abc"), HeaderField("x-amz-server-side-encryption", "AES256"),
            ]
        )
        let stages = signer.headerSigningStages(request, payload: .unsigned, time: time)
        let signedLine = stages.canonicalRequest.split(separator: "\n").dropLast().last
        #expect(signedLine == "host;x-amz-content-sha256;x-amz-date;x-amz-meta-call-id;x-amz-server-side-encryption")
    }

    @Test func repeatedHeadersJoinInOrderAndValuesAreTrimmed() {
        let request = SigningRequest(
            method: "GET",
            host: "h",
            path: "/",
            headers: [HeaderField("X-Amz-Meta-A", "  two   spaces "), HeaderField("x-amz-meta-b", "1"), HeaderField("X-AMZ-META-B", "0")]
        )
        let stages = signer.headerSigningStages(request, payload: .empty, time: time, sendsContentSHA256: false)
        #expect(stages.canonicalRequest.contains("\nx-amz-meta-a:two spaces\nx-amz-meta-b:1,0\n"))
    }

    @Test func queryIsSortedEncodedWithPercent20AndEmptyValuesKeepTheirEquals() {
        let request = SigningRequest(
            method: "POST",
            host: "h",
            path: "/b/k",
            query: [QueryItem("uploads"), QueryItem("prefix", "a b+c/d"), QueryItem("list-type", "2"), QueryItem("Z", "~")]
        )
        let stages = signer.headerSigningStages(request, payload: .unsigned, time: time)
        #expect(
            stages.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Z=~&list-type=2&prefix=a%20b%2Bc%2Fd&uploads="
        )
    }

    @Test func s3PathsAreEncodedOnceAndNeverNormalised() {
        let request = SigningRequest(method: "GET", host: "h", path: "/b/./a//b/../%20é")
        let stages = signer.headerSigningStages(request, payload: .unsigned, time: time)
        #expect(stages.canonicalRequest.split(separator: "\n")[1] == "/b/./a//b/../%2520%C3%A9")
    }

    @Test func descriptionsNeverShowSecrets() throws {
        let credentials = Credentials(accessKeyId: "AKID", secretAccessKey: "VERYSECRET", sessionToken: "SESSIONTOKEN")
        #expect(!"\(credentials)".contains("VERYSECRET"))
        #expect(!String(reflecting: credentials).contains("SESSIONTOKEN"))
        let url = try SigV4Signer(credentials: credentials, region: "us-east-1").presign(
            SigningRequest(method: "GET", host: "h", path: "/b/k"),
            expires: 60,
            time: time
        )
        #expect(!"\(url)".contains(url.signature))
        #expect("\(url)".hasSuffix("X-Amz-Signature=<redacted>"))
    }

    @Test func signingKeyIsDerivedOncePerDay() {
        let cache = SigningKeyCache()
        var derivations = 0
        let derive = { () -> SigningKey in
            derivations += 1
            return SigningKey(Array(repeating: UInt8(derivations), count: 32))
        }
        let first = cache.key(forDay: 100, derive: derive)
        let again = cache.key(forDay: 100, derive: derive)
        #expect(derivations == 1)
        #expect(first.inner.finalize() == again.inner.finalize())
        _ = cache.key(forDay: 101, derive: derive)
        #expect(derivations == 2)
    }

    @Test func signingTheSameRequestOnTwoDaysGivesTwoSignatures() {
        let request = SigningRequest(method: "GET", host: "h", path: "/b/k")
        let today = signer.signHeaders(request, payload: .unsigned, time: time)
        let tomorrow = signer.signHeaders(request, payload: .unsigned, time: SigningTime(secondsSince1970: time.secondsSince1970 + 86_400))
        let todayAgain = signer.signHeaders(request, payload: .unsigned, time: time)
        #expect(today.signature != tomorrow.signature)
        #expect(today.signature == todayAgain.signature)
    }
}
