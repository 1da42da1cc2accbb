import Hummingbird
import NIOCore

/// A request body read through `BodyFlowGate`: asking for the next chunk reports the previous one as
/// moved on, which lets the connection read as much again. A chunk the route still holds (waiting for
/// memory, say) keeps the window shut, so a store that cannot move its bytes on stops its socket.
struct FlowControlledBody: AsyncIteratorProtocol {
    var source: RequestBody.AsyncIterator
    let channel: any Channel
    private var lastChunk = 0

    init(_ body: RequestBody, channel: any Channel) {
        source = body.makeAsyncIterator()
        self.channel = channel
    }

    mutating func next() async throws -> ByteBuffer? {
        if lastChunk > 0 {
            channel.pipeline.triggerUserOutboundEvent(BodyFlowGate.Consumed(bytes: lastChunk), promise: nil)
            lastChunk = 0
        }
        let chunk = try await source.next()
        lastChunk = chunk?.readableBytes ?? 0
        return chunk
    }
}
