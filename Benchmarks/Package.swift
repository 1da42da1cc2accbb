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
    ],
    swiftLanguageModes: [.v6]
)
