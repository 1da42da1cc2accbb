/// Everything the gateway keeps in its database, behind one value: SQLite under `data_dir` by default.
public protocol GatewayStorage: AccountStorage, ObjectIndexStorage, UploadQueueStorage {
    /// Answers when the database does (`/readyz`).
    func ping() async throws
}
