public import AsyncHTTPClient
import Foundation
public import NIOCore
public import S3

/// The real S3 servers `./scripts/test` starts, found through the environment it sets.
public struct TestServerMissing: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum TestServers {
    /// The path of a helper in the project's `scripts/` folder.
    public static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts").appendingPathComponent(name).path
    }

    public static let http = S3Client.makeHTTPClient()

    public static func environment(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw TestServerMissing(description: "\(name) is not set: run ./scripts/test, which starts the test servers")
        }
        return value
    }

    /// moto with IAM enforced; the least-privilege user's client for `rg-recordings` unless told otherwise.
    public static func moto(
        bucket: String? = nil,
        secret: String? = nil,
        configuration: S3ClientConfiguration = S3ClientConfiguration()
    ) throws -> S3Client {
        let endpoint = try environment("RG_MOTO_ENDPOINT")
        let host = String(endpoint.dropFirst("http://".count))
        return S3Client(
            endpoint: try S3Endpoint(host: host, scheme: .http, addressingStyle: .path),
            bucket: try bucket ?? environment("RG_MOTO_BUCKET"),
            credentials: Credentials(
                accessKeyId: try environment("RG_MOTO_ACCESS_KEY"),
                secretAccessKey: try secret ?? environment("RG_MOTO_SECRET_KEY")
            ),
            http: http,
            configuration: configuration
        )
    }
}

extension TestServers {
    /// `rclone serve s3`, which verifies SigV4 header signatures and presigned URLs.
    public static func rclone() throws -> S3Client {
        let endpoint = try environment("RG_RCLONE_ENDPOINT")
        return S3Client(
            endpoint: try S3Endpoint(host: String(endpoint.dropFirst("http://".count)), scheme: .http, addressingStyle: .path),
            bucket: try environment("RG_RCLONE_BUCKET"),
            credentials: Credentials(accessKeyId: try environment("RG_RCLONE_ACCESS_KEY"), secretAccessKey: try environment("RG_RCLONE_SECRET_KEY")),
            http: http
        )
    }
}

/// A deterministic body of `length` bytes delivered in chunks, regenerable for byte-for-byte comparison.
public struct GeneratedBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public let length: Int
    public let seed: UInt8
    public var chunkSize = 64 * 1024

    public init(length: Int, seed: UInt8, chunkSize: Int = 64 * 1024) {
        self.length = length
        self.seed = seed
        self.chunkSize = chunkSize
    }

    public static func byte(at offset: Int, seed: UInt8) -> UInt8 {
        // Not periodic at part boundaries: mixes the offset's bytes.
        UInt8(truncatingIfNeeded: offset &* 2_654_435_761 >> 13) ^ UInt8(truncatingIfNeeded: offset >> 20) ^ seed
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let body: GeneratedBody
        var offset = 0

        public mutating func next() async -> ByteBuffer? {
            guard offset < body.length else { return nil }
            let count = Swift.min(body.chunkSize, body.length - offset)
            var buffer = ByteBuffer()
            buffer.reserveCapacity(count)
            let start = offset
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                for index in 0..<count { raw[index] = GeneratedBody.byte(at: start + index, seed: body.seed) }
                return count
            }
            offset += count
            return buffer
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(body: self) }

    /// Reads `stream` and checks every byte against the generator; returns the bytes seen, the first mismatch,
    /// and the object checksum of what arrived (for uploads made with `partSize`).
    public static func compare(
        _ stream: HTTPClientResponse.Body,
        length: Int,
        seed: UInt8,
        partSize: Int
    ) async throws -> (bytes: Int, firstMismatch: Int?, checksum: String) {
        var offset = 0
        var checksum = ObjectChecksum(partSize: partSize)
        for try await chunk in stream {
            chunk.withUnsafeReadableBytes { checksum.update($0) }
            let mismatch: Int? = chunk.withUnsafeReadableBytes { raw in
                for index in 0..<raw.count where raw[index] != byte(at: offset + index, seed: seed) { return offset + index }
                return nil
            }
            if let mismatch { return (offset, mismatch, "") }
            offset += chunk.readableBytes
        }
        return (offset, nil, checksum.finalize())
    }
}
