import Benchmark
import SigV4

// Run: cd Benchmarks && swift package --disable-sandbox benchmark --target SigV4Benchmarks
// Signing never touches the network, so these measure the signer alone: building the canonical request,
// one SHA-256, one HMAC with the cached signing key, and the output strings.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        warmupIterations: 1000,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 1_000_000
    )

    let signer = SigV4Signer(
        credentials: Credentials(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-west-1"
    )
    let time = SigningTime(secondsSince1970: 1_795_000_000)
    let key = "4a9b2c3d4e5f60718293a4b5c6d7e8f9/202611-0123456789abcdef0123456789abcdef/0123456789abcdef0123456789abcdef.mp3"

    // What the gateway does for every KAZOO GET: a presigned GET of one recording, with response-content-type.
    Benchmark("Presign GET URL") { benchmark in
        let request = SigningRequest(
            method: "GET",
            host: "recordings-acme.s3.us-west-1.amazonaws.com",
            path: "/" + key,
            query: [QueryItem("response-content-type", "audio/mpeg")]
        )
        for _ in benchmark.scaledIterations {
            blackHole(try signer.presign(request, expires: 300, time: time))
        }
    }

    // What the uploader does for every part: sign UploadPart with a payload hash already computed.
    Benchmark("Sign UploadPart request") { benchmark in
        let request = SigningRequest(
            method: "PUT",
            host: "recordings-acme.s3.us-west-1.amazonaws.com",
            path: "/" + key,
            query: [QueryItem("partNumber", "7"), QueryItem("uploadId", "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA")],
            headers: [HeaderField("Content-Length", "8388608"), HeaderField("x-amz-checksum-crc32c", "yZRlqg==")]
        )
        let payload = Payload.sha256Hex("9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e")
        for _ in benchmark.scaledIterations {
            blackHole(signer.signHeaders(request, payload: payload, time: time))
        }
    }
}
