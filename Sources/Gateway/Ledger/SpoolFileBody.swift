import NIOCore
import Spool

/// A spool file's object bytes as the uploader reads them.
struct SpoolFileBody: AsyncSequence {
    typealias Element = ByteBuffer
    let reader: SpoolReader
    let progress: @Sendable (Int) -> Void

    struct Iterator: AsyncIteratorProtocol {
        let reader: SpoolReader
        let progress: @Sendable (Int) -> Void
        var total = 0

        mutating func next() async throws -> ByteBuffer? {
            guard let chunk = try reader.next() else { return nil }
            total += chunk.count
            progress(total)
            return ByteBuffer(bytes: chunk)
        }
    }

    func makeAsyncIterator() -> Iterator { Iterator(reader: reader, progress: progress) }
}
