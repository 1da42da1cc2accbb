import S3
import Testing

struct S3EndpointTests {
    @Test(arguments: [
        ("s3.amazonaws.com", "us-east-1"),
        ("s3.us-west-1.amazonaws.com", "us-west-1"),
        ("S3.US-WEST-1.AMAZONAWS.COM", "us-west-1"),
        ("s3-eu-west-1.amazonaws.com", "eu-west-1"),
        ("s3-external-1.amazonaws.com", "us-east-1"),
        ("s3.dualstack.ap-southeast-2.amazonaws.com", "ap-southeast-2"),
        ("recordings.s3.eu-central-1.amazonaws.com", "eu-central-1"),
        ("my.dotted.bucket.s3.eu-central-1.amazonaws.com", "eu-central-1"),
        ("recordings.s3.amazonaws.com", "us-east-1"),
        ("recordings.s3-us-west-2.amazonaws.com", "us-west-2"),
        ("s3.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("s3.us-east-2.wasabisys.com", "us-east-2"),
        ("s3.wasabisys.com", "us-east-1"),
        ("s3.us-west-004.backblazeb2.com", "us-west-004"),
        ("nyc3.digitaloceanspaces.com", "nyc3"),
        ("bucket.nyc3.digitaloceanspaces.com", "nyc3"),
        ("s3.us-west-1.amazonaws.com:443", "us-west-1"),
    ])
    func regionFromHost(host: String, region: String) {
        #expect(S3Endpoint.region(fromHost: host) == region)
    }

    @Test(arguments: ["minio.example.com", "127.0.0.1:9000", "localhost", "amazonaws.com", "storage.googleapis.com"])
    func otherHostsDoNotSayTheirRegion(host: String) throws {
        #expect(S3Endpoint.region(fromHost: host) == nil)
        #expect(try S3Endpoint(host: host).region == "us-east-1")
        #expect(try S3Endpoint(host: host, region: "eu-west-3").region == "eu-west-3")
    }

    @Test func givenRegionWinsOverTheHost() throws {
        #expect(try S3Endpoint(host: "s3.us-west-1.amazonaws.com", region: "us-west-2").region == "us-west-2")
        #expect(try S3Endpoint(host: "s3.us-west-1.amazonaws.com", region: "  ").region == "us-west-1")
    }

    @Test(arguments: [
        "https://s3.us-west-1.amazonaws.com", "s3.us-west-1.amazonaws.com/bucket", "s3.amazonaws.com?x=1", "user:pass@s3.amazonaws.com",
        "", "s3..amazonaws.com", "s3.amazonaws.com:http", "s3 amazonaws.com",
    ])
    func badHostsAreRefusedWithAReason(host: String) {
        #expect(throws: S3EndpointError.self) { try S3Endpoint(host: host) }
    }

    @Test func badRegionIsRefused() {
        #expect(throws: S3EndpointError.invalidRegion("US West")) { try S3Endpoint(host: "s3.amazonaws.com", region: "US West") }
    }

    @Test func virtualHostedAndPathStyleLocations() throws {
        let virtual = try S3Endpoint(host: "s3.us-west-1.amazonaws.com")
        #expect(virtual.location(bucket: "recordings", key: "a b.mp3") == ("recordings.s3.us-west-1.amazonaws.com", "/a b.mp3"))
        #expect(virtual.location(bucket: "recordings", key: nil) == ("recordings.s3.us-west-1.amazonaws.com", "/"))
        let path = try S3Endpoint(host: "127.0.0.1:9000", scheme: .http, addressingStyle: .path)
        #expect(path.location(bucket: "recordings", key: "x/y.mp3") == ("127.0.0.1:9000", "/recordings/x/y.mp3"))
        #expect(path.location(bucket: "recordings", key: nil) == ("127.0.0.1:9000", "/recordings"))
    }

    @Test func dottedBucketsUsePathStyleOverTLS() throws {
        let tls = try S3Endpoint(host: "s3.eu-central-1.amazonaws.com")
        #expect(tls.location(bucket: "kazoo.rec.bucket", key: "k") == ("s3.eu-central-1.amazonaws.com", "/kazoo.rec.bucket/k"))
        let plain = try S3Endpoint(host: "s3.eu-central-1.amazonaws.com", scheme: .http)
        #expect(plain.location(bucket: "kazoo.rec.bucket", key: "k") == ("kazoo.rec.bucket.s3.eu-central-1.amazonaws.com", "/k"))
    }

    @Test func aBucketLabelPastedIntoTheHostIsDropped() throws {
        let endpoint = try S3Endpoint(host: "recordings.s3.us-west-1.amazonaws.com", bucket: "recordings")
        #expect(endpoint.host == "s3.us-west-1.amazonaws.com")
        #expect(endpoint.region == "us-west-1")
        #expect(endpoint.location(bucket: "recordings", key: "k").host == "recordings.s3.us-west-1.amazonaws.com")
    }
}
