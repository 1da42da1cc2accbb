// swift-tools-version: 6.1
import PackageDescription

import class Foundation.ProcessInfo
import struct Foundation.URL

// The main package is the folder above; SwiftPM names a path dependency after its folder,
// which differs between checkouts (main, project, ...), so the name is read here.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "SigV4Benchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SigV4", package: mainPackage),
            ],
            path: "Benchmarks/SigV4Benchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "UploadBenchmark",
            dependencies: [
                .product(name: "S3", package: mainPackage),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/UploadBenchmark"
        ),
        // The spool's own cost per GiB (page cache against direct writes, AES-GCM alone): README.md, "Benchmarks".
        .executableTarget(
            name: "SpoolBenchmark",
            dependencies: [
                .product(name: "Spool", package: mainPackage),
                .product(name: "S3", package: mainPackage),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/SpoolBenchmark"
        ),
        // The gateway's libraries passing a store on to S3 and nothing else (stores-vs-curl.sh): README.md, "Benchmarks".
        .executableTarget(
            name: "Passthrough",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/Passthrough"
        ),
        // Drives a gateway (or S3 directly) as a KAZOO cluster would: Benchmarks/README.md.
        .executableTarget(
            name: "kazoo-load",
            dependencies: [
                .product(name: "SigV4", package: mainPackage),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/KazooLoad"
        ),
    ],
    swiftLanguageModes: [.v6]
)
