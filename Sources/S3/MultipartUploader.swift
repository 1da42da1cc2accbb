import Crypto
public import Logging
import NIOConcurrencyHelpers
public import NIOCore

/// Lands a stream of bytes of unknown length in S3 with a hard ceiling on memory.
///
/// Each part buffer is acquired from the shared `MemoryBudget` once the part's first bytes are there
/// (a client that sends a few bytes and stops holds none), sized to what the part can still hold (a body
/// declared shorter than a part takes only what it needs), and released when its upload ends, whatever
/// the outcome; at most `parallelParts` parts are in flight and the body is not read further until one
/// finishes. A body shorter than one part is one PutObject. Every part's
/// SHA-256 is signed, so S3 verifies each byte it stores, and the same digests make the object's
/// checksum (`ObjectChecksum`) for the caller to record: each byte is hashed once.
public struct MultipartUploader: Sendable {
    public static let minimumPartSize = 5 * 1024 * 1024
    public static let maximumParts = 10_000

    public let budget: MemoryBudget
    public let partSize: Int
    public let parallelParts: Int
    /// Whose turn it is when the budget is short: live stores are `normal`, replays `background`.
    public let priority: MemoryBudget.Priority
    let logger: Logger

    public init(
        budget: MemoryBudget,
        partSize: Int = 8 * 1024 * 1024,
        parallelParts: Int = 4,
        priority: MemoryBudget.Priority = .normal,
        logger: Logger = Logger(label: "s3.upload")
    ) {
        self.budget = budget
        self.priority = priority
        self.partSize = max(partSize, Self.minimumPartSize)
        self.parallelParts = max(1, parallelParts)
        self.logger = logger
    }

    /// The part size for a body of `expectedLength` bytes: the configured size, grown (in whole MiB)
    /// so that the body fits in 10,000 parts.
    public func partSize(forExpectedLength expectedLength: Int?) -> Int {
        guard let expectedLength, expectedLength > partSize * Self.maximumParts else { return partSize }
        let mebibyte = 1024 * 1024
        let needed = (expectedLength + Self.maximumParts - 1) / Self.maximumParts
        return (needed + mebibyte - 1) / mebibyte * mebibyte
    }

    /// The bytes a part buffer really occupies, which is what the budget is charged: NIO allocates
    /// ByteBuffer storage in powers of two, so a 5 MiB part holds 8 MiB. Part sizes that are powers of
    /// two (the 8 MiB default) waste nothing.
    public static func bufferCharge(forPartSize partSize: Int) -> Int {
        guard partSize > 1 else { return 1 }
        return 1 << (Int.bitWidth - (partSize - 1).leadingZeroBitCount)
    }

    /// Whether a body of `expectedLength` bytes goes to S3 as one PutObject, held whole in memory until S3
    /// answers (false when the length is not known).
    public func isOnePut(expectedLength: Int?) -> Bool {
        guard let expectedLength else { return false }
        return expectedLength < partSize(forExpectedLength: expectedLength)
    }

    /// Uploads `body` to `key`. `expectedLength` is a hint that only sizes the parts. `notTaken` is given the
    /// whole body when it went as one PutObject that failed, before its memory is released (the only copy of
    /// those bytes the caller does not have to keep itself).
    public func upload<Body: AsyncSequence>(
        _ body: Body,
        to client: S3Client,
        key: String,
        options: S3ObjectOptions = S3ObjectOptions(),
        expectedLength: Int? = nil,
        notTaken: ((ByteBuffer) -> Void)? = nil
    ) async throws -> UploadResult where Body.Element == ByteBuffer {
        let partSize = partSize(forExpectedLength: expectedLength)
        var reader = PartReader(
            iterator: body.makeAsyncIterator(),
            partSize: partSize,
            expectedLength: expectedLength,
            budget: budget,
            priority: priority
        )

        guard let (first, charge) = try await reader.nextPart() else {
            // Zero bytes: one empty PutObject.
            return try await putWhole(ByteBuffer(), to: client, key: key, options: options, partSize: partSize, notTaken: notTaken)
        }
        if first.readableBytes < partSize {
            // The whole body fitted in less than one part: one PutObject. Its buffer goes back to the budget
            // whatever S3 answered.
            let result: UploadResult
            do {
                result = try await putWhole(first, to: client, key: key, options: options, partSize: partSize, notTaken: notTaken)
            } catch {
                budget.recycle(consume first, charge: charge)
                throw error
            }
            budget.recycle(consume first, charge: charge)
            return result
        }

        let uploadId: String
        do {
            uploadId = try await client.createMultipartUpload(key: key, options: options)
        } catch {
            budget.recycle(consume first, charge: charge)
            throw error
        }
        do {
            // The first part is handed over, not kept: a part's memory goes when its upload ends, with its budget.
            let parts = try await uploadParts(first: consume first, charge: charge, reader: &reader, client: client, key: key, uploadId: uploadId)
                .sorted { $0.part.partNumber < $1.part.partNumber }
            let stored = try await client.completeMultipartUpload(key: key, uploadId: uploadId, parts: parts.map(\.part))
            return UploadResult(
                etag: stored.etag,
                versionId: stored.versionId,
                size: reader.size,
                checksum: ObjectChecksum.composite(parts.map(\.digest)),
                parts: parts.count,
                partSize: partSize
            )
        } catch {
            // A courtesy, outside the cancelled task: under least privilege S3 denies it and the bucket's
            // lifecycle rule (AbortIncompleteMultipartUpload) has to clean up.
            let outcome = await Task { await client.abortMultipartUpload(key: key, uploadId: uploadId) }.value
            switch outcome {
            case .aborted:
                logger.info("multipart upload aborted", metadata: ["key": "\(key)", "upload_id": "\(uploadId)"])
            case .denied:
                logger.warning(
                    "multipart upload left incomplete: AbortMultipartUpload denied; the bucket needs an AbortIncompleteMultipartUpload lifecycle rule",
                    metadata: ["key": "\(key)", "upload_id": "\(uploadId)"]
                )
            case .failed(let abortError):
                logger.warning(
                    "multipart upload left incomplete: abort failed",
                    metadata: ["key": "\(key)", "upload_id": "\(uploadId)", "error": "\(abortError)"]
                )
            }
            throw error
        }
    }

    /// One PutObject of a body held whole in memory; if S3 does not take it, `notTaken` gets the body first.
    private func putWhole(
        _ body: ByteBuffer,
        to client: S3Client,
        key: String,
        options: S3ObjectOptions,
        partSize: Int,
        notTaken: ((ByteBuffer) -> Void)?
    ) async throws -> UploadResult {
        let (digest, payload) = ObjectChecksum.sha256(body.readableBytesView)
        let stored: PutResult
        do {
            stored = try await client.putObject(key: key, body: body, options: options, sha256: payload)
        } catch {
            notTaken?(body)
            throw error
        }
        return UploadResult(
            etag: stored.etag,
            versionId: stored.versionId,
            size: body.readableBytes,
            checksum: ObjectChecksum.single(digest),
            parts: 0,
            partSize: partSize
        )
    }

    /// Uploads `first` and every further part, `parallelParts` at a time; the budget is released as each ends,
    /// and so is the part's memory: nothing here or in the task group keeps a part once its upload ended (a
    /// finished child task lives until the group collects it, so it holds its part through a `PartHandoff`).
    private func uploadParts<Iterator: AsyncIteratorProtocol>(
        first: consuming ByteBuffer,
        charge firstCharge: Int,
        reader: inout PartReader<Iterator>,
        client: S3Client,
        key: String,
        uploadId: String
    ) async throws -> [(part: CompletedPart, digest: SHA256Digest)] where Iterator.Element == ByteBuffer {
        let firstPart = PartHandoff(first)
        return try await withThrowingTaskGroup(of: (part: CompletedPart, digest: SHA256Digest).self) { group in
            let budget = self.budget
            func start(_ handoff: PartHandoff, number: Int, charge: Int) {
                group.addTask {
                    let part = handoff.take()
                    // One hash per part: it is signed (S3 checks it) and feeds the object's composite checksum.
                    let (digest, payload) = ObjectChecksum.sha256(part.readableBytesView)
                    do {
                        let etag = try await client.uploadPart(key: key, uploadId: uploadId, partNumber: number, body: part, sha256: payload)
                        budget.recycle(consume part, charge: charge)
                        return (CompletedPart(partNumber: number, etag: etag), digest)
                    } catch {
                        budget.recycle(consume part, charge: charge)
                        throw error
                    }
                }
            }
            var completed: [(part: CompletedPart, digest: SHA256Digest)] = []
            var number = 1
            var inFlight = 1
            start(firstPart, number: number, charge: firstCharge)
            while true {
                if inFlight >= parallelParts, let done = try await group.next() {
                    completed.append(done)
                    inFlight -= 1
                }
                guard let (part, charge) = try await reader.nextPart() else { break }
                number += 1
                guard number <= Self.maximumParts else {
                    let size = part.readableBytes
                    budget.recycle(consume part, charge: charge)
                    throw UploadError.tooManyParts(partSize: size)
                }
                start(PartHandoff(part), number: number, charge: charge)
                inFlight += 1
            }
            for try await done in group { completed.append(done) }
            return completed
        }
    }
}

/// Carries a part into its upload task and lets go of it there, so the part's memory is freed when the
/// task's work ends rather than when the task group collects the finished task.
final class PartHandoff: Sendable {
    private let part: NIOLockedValueBox<ByteBuffer?>

    init(_ part: consuming ByteBuffer) { self.part = NIOLockedValueBox(part) }

    /// The part, once; an empty buffer after that.
    func take() -> ByteBuffer {
        part.withLockedValue { part in
            defer { part = nil }
            return part ?? ByteBuffer()
        }
    }
}

/// What the uploader stored.
public struct UploadResult: Sendable, Hashable {
    public var etag: String?
    public var versionId: String?
    public var size: Int
    /// The object's checksum (see `ObjectChecksum`): `sha256:…` for one PutObject, `sha256-composite:…-N` for N parts.
    public var checksum: String
    /// Parts used; 0 for a single PutObject.
    public var parts: Int
    /// The part size the body was cut at; `ObjectChecksum(partSize:)` needs it to recompute `checksum`.
    public var partSize: Int
}

public enum UploadError: Error, Sendable, Hashable, CustomStringConvertible {
    case tooManyParts(partSize: Int)

    public var description: String {
        switch self {
        case .tooManyParts(let partSize):
            "the body needs more than 10,000 parts of \(partSize) bytes; raise part_size_bytes or send the length"
        }
    }
}

/// Fills part buffers from the body, and hashes the whole object as it passes. A part's buffer is taken
/// from the budget only when its first `stagingBytes` (or the end of the body) are there, and only as
/// large as the part can still be: the declared length, where there is one, bounds what is left. When
/// the budget is spent the reader waits, holding what it gathered, and so reads no further.
struct PartReader<Iterator: AsyncIteratorProtocol> where Iterator.Element == ByteBuffer {
    /// Bytes gathered before a part's buffer is taken.
    static var stagingBytes: Int { 16 * 1024 }

    var iterator: Iterator
    let partSize: Int
    /// The body's declared length (an upper bound on what is left); nil when unknown.
    let expectedLength: Int?
    let budget: MemoryBudget
    let priority: MemoryBudget.Priority
    var carry: ByteBuffer?
    var size = 0
    var finished = false

    init(iterator: Iterator, partSize: Int, expectedLength: Int?, budget: MemoryBudget, priority: MemoryBudget.Priority = .normal) {
        self.iterator = iterator
        self.partSize = partSize
        self.expectedLength = expectedLength
        self.budget = budget
        self.priority = priority
    }

    /// The body's next chunk; nil at its end.
    private mutating func nextChunk() async throws -> ByteBuffer? {
        if let chunk = carry {
            carry = nil
            if chunk.readableBytes > 0 { return chunk }
        }
        guard !finished else { return nil }
        guard let chunk = try await iterator.next() else {
            // Some bodies (AsyncStream) end quietly when their task is cancelled: a cancelled
            // read is not the end of the object, and must never complete an upload.
            try Task.checkCancellation()
            finished = true
            return nil
        }
        return chunk
    }

    /// The next part and the budget it holds (`charge`, which the caller must release); nil at the end (nothing held).
    mutating func nextPart() async throws -> (part: ByteBuffer, charge: Int)? {
        var staged: [ByteBuffer] = []
        var stagedBytes = 0
        while stagedBytes < min(Self.stagingBytes, partSize), let chunk = try await nextChunk() {
            stagedBytes += chunk.readableBytes
            staged.append(chunk)
        }
        guard stagedBytes > 0 else { return nil }
        let room = expectedLength.map { min(partSize, max($0 - size, stagedBytes)) } ?? partSize
        let charge = MultipartUploader.bufferCharge(forPartSize: room)
        var part = try await budget.acquireBuffer(charge: charge, priority: priority)
        do {
            // Staging stops once it holds `stagingBytes`, less than a part: only its last chunk can pass the part's end.
            for chunk in staged { carry = fill(&part, from: chunk) }
            staged.removeAll()  // not kept while the rest of the part is read
            while part.readableBytes < partSize, carry == nil, let chunk = try await nextChunk() {
                carry = fill(&part, from: chunk)
            }
            size += part.readableBytes
            return (part, charge)
        } catch {
            budget.recycle(consume part, charge: charge)
            throw error
        }
    }

    /// Copies what fits of `chunk` into `part`; returns the rest, if any.
    private func fill(_ part: inout ByteBuffer, from chunk: ByteBuffer) -> ByteBuffer? {
        var chunk = chunk
        let take = min(partSize - part.readableBytes, chunk.readableBytes)
        if let slice = chunk.readSlice(length: take) { part.writeImmutableBuffer(slice) }
        return chunk.readableBytes > 0 ? chunk : nil
    }
}
