/// Told what the client does beyond what its callers see: each operation's outcome and duration
/// (retries included), and each retry. The gateway's metrics implement it; the client works without one.
public protocol S3Observer: Sendable {
    /// An operation ended: `error` is nil on success, else the error its caller gets.
    func operationFinished(_ operation: String, duration: Duration, error: S3Error?)
    /// An attempt failed with `code` and the operation will be tried again.
    func retrying(_ operation: String, code: String)
}
