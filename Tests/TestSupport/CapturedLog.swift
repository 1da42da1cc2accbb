public import Logging
import NIOConcurrencyHelpers

/// A swift-log handler that keeps every line, so tests can read what was logged.
public final class CapturedLog: Sendable {
    public init() {}
    private let lines = NIOLockedValueBox<[String]>([])

    public var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    public var all: [String] { lines.withLockedValue { $0 } }

    public func append(_ line: String) { lines.withLockedValue { $0.append(line) } }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).merging(metadata) { new, _ in new }.merging(metadataProvider?.get() ?? [:]) { new, _ in new }
                .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.append("\(event.level) \(event.message) \(fields)")
        }
    }
}
