import Logging

/// The metadata of the request (or replay) a task works for, added to every line any logger with
/// this provider writes while the task runs — S3 client retries and uploader notices included, which
/// are logged far from the route that knows the request id.
enum RequestLogMetadata {
    @TaskLocal static var current: Logger.Metadata = [:]

    static let provider = Logger.MetadataProvider { current }

    /// Runs `body` with `metadata` added to the task's log metadata.
    static func with<Result>(_ metadata: Logger.Metadata, _ body: () async throws -> Result) async rethrows -> Result {
        try await $current.withValue(current.merging(metadata) { _, new in new }, operation: body)
    }
}
