// The end-to-end upload benchmark: streams a file through MultipartUploader into an S3 server and
// reports throughput and this process's peak resident memory. Benchmarks/upload-vs-curl.sh runs it
// side by side with `curl -T` of the same file to the same server.
//
//   UploadBenchmark upload ENDPOINT BUCKET KEY FILE [BUDGET_MIB] [PART_MIB] [PARALLEL]
//   UploadBenchmark presign-put ENDPOINT BUCKET KEY      (prints a presigned PUT URL for curl)
// Credentials come from RG_BENCH_ACCESS_KEY and RG_BENCH_SECRET_KEY.
import Foundation
import NIOCore
import S3

/// The file in 1 MiB ByteBuffers read straight from the descriptor (no Data in between),
/// as the gateway will receive them from NIO.
struct FileChunks: AsyncSequence {
    typealias Element = ByteBuffer
    let descriptor: Int32
    let chunkSize = 1024 * 1024

    struct AsyncIterator: AsyncIteratorProtocol {
        let descriptor: Int32
        let chunkSize: Int
        mutating func next() async throws -> ByteBuffer? {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(chunkSize)
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { raw in
                Swift.max(0, read(descriptor, raw.baseAddress, chunkSize))
            }
            return count > 0 ? buffer : nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(descriptor: descriptor, chunkSize: chunkSize) }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func peakResidentMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kib = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kib / 1024
    }
    return 0
}

AllocatorTuning.limitArenas()  // as `recording-gateway serve` does
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 4 else {
    print("usage: UploadBenchmark upload|presign-put ENDPOINT BUCKET KEY [FILE BUDGET_MIB PART_MIB PARALLEL]")
    exit(2)
}
let environment = ProcessInfo.processInfo.environment
let credentials = Credentials(accessKeyId: environment["RG_BENCH_ACCESS_KEY"] ?? "", secretAccessKey: environment["RG_BENCH_SECRET_KEY"] ?? "")
let endpointURL = arguments[1]
let scheme: S3Endpoint.Scheme = endpointURL.hasPrefix("https://") ? .https : .http
let host = String(endpointURL.split(separator: "/", omittingEmptySubsequences: true).last ?? "")
let endpoint = try S3Endpoint(host: host, scheme: scheme, addressingStyle: .path)
let http = S3Client.makeHTTPClient()
let client = S3Client(endpoint: endpoint, bucket: arguments[2], credentials: credentials, http: http)

switch arguments[0] {
case "presign-put":
    let (requestHost, path) = endpoint.location(bucket: arguments[2], key: arguments[3])
    let signer = SigV4Signer(credentials: credentials, region: endpoint.region)
    print(
        try signer.presign(
            SigningRequest(method: "PUT", host: requestHost, path: path),
            scheme: scheme.rawValue,
            expires: 3600,
            time: SigningTime(Date())
        ).url
    )
case "upload":
    let file = arguments[4]
    let mebibyte = 1024 * 1024
    let budgetMiB = arguments.count > 5 ? Int(arguments[5]) ?? 64 : 64
    let partMiB = arguments.count > 6 ? Int(arguments[6]) ?? 8 : 8
    let parallel = arguments.count > 7 ? Int(arguments[7]) ?? 4 : 4
    let descriptor = open(file, O_RDONLY)
    guard descriptor >= 0 else {
        print("cannot open \(file)")
        exit(1)
    }
    let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
    let budget = MemoryBudget(capacity: budgetMiB * mebibyte)
    let uploader = MultipartUploader(budget: budget, partSize: partMiB * mebibyte, parallelParts: parallel)
    let start = ContinuousClock.now
    let result: UploadResult
    do {
        result = try await uploader.upload(FileChunks(descriptor: descriptor), to: client, key: arguments[3])
    } catch {
        print("upload failed: \(error)")
        exit(1)
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(
        String(
            format: "uploader: %d bytes in %.2f s = %.1f MiB/s (CPU %.2f s), %d parts, budget high-water %.0f MiB of %d MiB, peak RSS %.1f MiB",
            result.size,
            seconds,
            Double(size) / Double(mebibyte) / seconds,
            cpuSeconds(),
            result.parts,
            Double(budget.highWaterMark) / Double(mebibyte),
            budgetMiB,
            peakResidentMiB()
        )
    )
default:
    print("unknown command \(arguments[0])")
    exit(2)
}
try await http.shutdown()
