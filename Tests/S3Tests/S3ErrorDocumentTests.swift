import S3
import Testing

struct S3ErrorDocumentTests {
    @Test func readsAnAWSErrorDocument() throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'us-west-1'</Message><Region>us-west-1</Region><RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>
            """
        let document = try #require(S3ErrorDocument(Array(body.utf8)))
        #expect(document.code == "AuthorizationHeaderMalformed")
        #expect(document.region == "us-west-1")
        #expect(document.requestId == "4442587FB7D0A2F9")
        #expect(document.message.contains("expecting 'us-west-1'"))
    }

    @Test func readsIndentedDocumentsAndEntities() throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error>
              <Code>RequestTimeTooSkewed</Code>
              <Message>The difference between the request time &amp; the current time is too large.</Message>
              <RequestTimeTooSkewed/>
              <ServerTime>2026-11-29T18:00:00Z</ServerTime>
              <Resource>/b/k&#x20;x</Resource>
            </Error>
            """
        let document = try #require(S3ErrorDocument(Array(body.utf8)))
        #expect(document.code == "RequestTimeTooSkewed")
        #expect(document.message == "The difference between the request time & the current time is too large.")
        #expect(document.serverTime == "2026-11-29T18:00:00Z")
        #expect(document.requestId == nil)
    }

    /// CompleteMultipartUpload can answer 200 with an error document; a real result is not one.
    /// Found by the s3-xml fuzz target: the text before an '&' with no ';' after it came out twice.
    @Test func anAmpersandWithoutASemicolonIsTextAndNothingIsRepeated() throws {
        let document = try #require(S3ErrorDocument(Array("<Error><Code>A&amp;B &#65; C & D</Code></Error>".utf8)))
        #expect(document.code == "A&B A C & D")
    }

    @Test func aResultIsNotAnErrorDocument() {
        let result = """
            <?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket><Key>k</Key><ETag>"e-2"</ETag></CompleteMultipartUploadResult>
            """
        #expect(S3ErrorDocument(Array(result.utf8)) == nil)
        #expect(S3ErrorDocument([UInt8]()) == nil)
        #expect(S3ErrorDocument(Array("<Error><Message>no code</Message></Error>".utf8)) == nil)
    }
}
