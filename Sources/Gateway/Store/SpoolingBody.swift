import KazooWire
import Logging
import NIOCore
import Spool

/// A store's body on its way to S3, written ahead to a spool file as it passes (when there is one).
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

    private(set) var body: StoreBody<Source>
    private(set) var writer: SpoolWriter?
    let logger: Logger

    init(body: StoreBody<Source>, writer: SpoolWriter?, logger: Logger) {
        self.body = body
        self.writer = writer
        self.logger = logger
    }

    func makeAsyncIterator() -> Iterator { Iterator(owner: self) }

    func next() async throws -> ByteBuffer? {
        guard let chunk = try await body.next() else { return nil }
        if let writer {
            do {
                try chunk.withUnsafeReadableBytes { try writer.write($0) }
            } catch {
                logger.warning("spooling stopped: \(error); this store is acknowledged only if S3 takes it")
                writer.discard()
                self.writer = nil
            }
        }
        return chunk
    }

    /// Reads the rest of the body into the spool file.
    func drain() async throws {
        while try await next() != nil {}
    }
}
