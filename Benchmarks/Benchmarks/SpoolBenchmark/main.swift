import Crypto
import Foundation
import S3
import Spool

#if canImport(Glibc)
import Glibc
#endif

// What the write-ahead spool costs in itself, without a network or an S3 beside it: SIZE MiB written through
// `SpoolWriter` (read off a socket in 512 KiB pieces, as a flowing body is) and discarded, as on the fast path
// when S3 took the recording; through the page cache only, and with the bytes past 32 MiB written direct
// (`DirectWrites`). Beside them, AES-GCM alone over the same records: the floor. CPU-seconds of this process
// (user + system) per GiB, ROUNDS rounds alternating.
// Usage: SpoolBenchmark [SIZE_MIB] [ROUNDS] [DIRECTORY]   (defaults 1024, 3, the temporary directory)

let arguments = CommandLine.arguments
let sizeMiB = arguments.count > 1 ? Int(arguments[1]) ?? 1024 : 1024
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let directory = arguments.count > 3 ? arguments[3] : NSTemporaryDirectory() + "spool-benchmark-\(UUID().uuidString)"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

let piece = 512 * 1024
let total = sizeMiB * 1024 * 1024
var generator = SystemRandomNumberGenerator()
let source = (0..<(4 * piece)).map { _ in UInt8.random(in: 0...255, using: &generator) }
let masterKey = SymmetricKey(size: .bits256)
let header = SpoolFile.Header(accountId: "benchmark", objectKey: "a.mp3", requestPath: "a.mp3", contentType: nil, metadata: [:])

/// CPU-seconds (user + system) this process has used.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

/// Runs `body` and prints its CPU-seconds and wall seconds per GiB.
func measure(_ label: String, _ body: () throws -> Void) rethrows {
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    try body()
    let wall = ContinuousClock.now - start
    let gib = Double(total) / Double(1 << 30)
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    let figures = String(format: "%6.3f CPU-s per GiB  %6.3f s per GiB", (cpuSeconds() - cpu) / gib, seconds / gib)
    print(label.padding(toLength: 34, withPad: " ", startingAt: 0) + figures)
}

/// Feeds `total` bytes to `write` in 512 KiB pieces.
func feed(_ write: (UnsafeRawBufferPointer) throws -> Void) rethrows {
    try source.withUnsafeBytes { bytes in
        var written = 0
        var offset = 0
        while written < total {
            let count = min(piece, total - written)
            try write(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            written += count
            offset = (offset + count) % (bytes.count - piece)
        }
    }
}

print("\(sizeMiB) MiB through SpoolWriter in \(directory), \(rounds) rounds")
for round in 1...rounds {
    print("== round \(round)")
    measure("AES-GCM alone (64 KiB records)") {
        let key = SymmetricKey(size: .bits256)
        let nonce = AES.GCM.Nonce()
        feed { bytes in
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + SpoolFile.chunkSize, bytes.count)
                _ = try? AES.GCM.seal(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), using: key, nonce: nonce)
                offset = end
            }
        }
    }
    try measure("spool, page cache (and unlink)") {
        let writer = try SpoolWriter(path: directory + "/\(UUID().uuidString).spool", masterKey: masterKey, header: header)
        try feed { try writer.write($0) }
        writer.discard()
    }
    try measure("spool, direct past 32 MiB") {
        let budget = MemoryBudget(capacity: 64 * 1024 * 1024)
        let writer = try SpoolWriter(
            path: directory + "/\(UUID().uuidString).spool",
            masterKey: masterKey,
            header: header,
            direct: DirectWrites.Settings(budget: budget)
        )
        try feed { try writer.write($0) }
        writer.discard()
    }
}
