/// Everything the gateway keeps in its database, behind one value: SQLite under `data_dir` by default,
/// PostgreSQL (`PostgresDatabase`) with `database_url`.
public protocol GatewayStorage: AccountStorage, ObjectIndexStorage, UploadQueueStorage {
    /// Answers when the database does (`/readyz`).
    func ping() async throws
    /// Lets go of the database's connections (at the end of `serve`).
    func close() async
}
