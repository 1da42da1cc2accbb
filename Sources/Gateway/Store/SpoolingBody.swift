import KazooWire
import Logging
import NIOCore
import Spool

/// A store's body on its way to S3, kept for the spool as it passes: written ahead to a spool file, or,
/// for a body that goes to S3 whole from memory (one PutObject), only if S3 does not take it.
///
/// The uploader reads it through `makeAsyncIterator`; if S3 fails, the route reads the rest into the
/// spool with `drain` and makes the file durable. A spool write that fails (disk full, quota) only
/// stops the spooling: the upload goes on, and an S3 failure is then not acknowledged.
/// Used by one task at a time.
final class SpoolingBody<Source: AsyncIteratorProtocol>: AsyncSequence where Source.Element == ByteBuffer {
    typealias Element = ByteBuffer

    struct Iterator: AsyncIteratorProtocol {
        let owner: SpoolingBody
        mutating func next() async throws -> ByteBuffer? { try await owner.next() }
    }

    /// How the body reaches the spool.
    enum Mode {
        /// Every byte is written to the file as it passes: once a part is in S3 its memory is gone, so
        /// the file is the only other copy of it.
        case writeAhead
        /// The whole body is one PutObject, held in its part buffer until S3 answers: the file is written
        /// from that buffer only if S3 does not take it (`spoolWhole`), so a store S3 takes costs the spool
        /// nothing (no file, no encryption, no page cache).
        case onFailure
    }

    private(set) var body: StoreBody<Source>
    private(set) var writer: SpoolWriter?
    /// What the spool file will say the recording is (for `onFailure`); nil once the file is begun.
    private var pendingHeader: SpoolFile.Header?
    let ledger: RecordingLedger
    let logger: Logger

    init(body: StoreBody<Source>, header: SpoolFile.Header, mode: Mode, ledger: RecordingLedger, logger: Logger) {
        self.body = body
        self.ledger = ledger
        self.logger = logger
        switch mode {
        case .writeAhead: writer = ledger.received(header)
        case .onFailure: pendingHeader = header
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(owner: self) }

    func next() async throws -> ByteBuffer? {
        guard let chunk = try await body.next() else { return nil }
        write(chunk)
        return chunk
    }

    /// The whole body, from the memory that held it for S3, which did not take it (`onFailure`).
    func spoolWhole(_ whole: ByteBuffer) {
        guard let header = pendingHeader else { return }
        pendingHeader = nil
        writer = ledger.received(header)
        write(whole)
    }

    private func write(_ bytes: ByteBuffer) {
        guard let writer else { return }
        do {
            try bytes.withUnsafeReadableBytes { try writer.write($0) }
        } catch {
            logger.warning("spooling stopped: \(error); this store is acknowledged only if S3 takes it")
            writer.discard()
            self.writer = nil
        }
    }

    /// Reads the rest of the body into the spool file.
    func drain() async throws {
        while try await next() != nil {}
    }
}
