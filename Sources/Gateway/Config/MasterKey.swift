public import Crypto
public import Foundation

/// The key that seals account secrets at rest (AES-256-GCM).
///
/// It comes from `RG_MASTER_KEY` (base64 of 32 bytes) when set, else from `master.key` in the data
/// directory, which is created with mode 0600 on first start. Whether it is the right key is checked
/// against a sealed probe in the database before anything else happens (`AccountStore.checkMasterKey`).
public struct MasterKey: Sendable {
    public static let environmentVariable = "RG_MASTER_KEY"
    public static let fileName = "master.key"

    let key: SymmetricKey
    /// Where the key came from, for messages (never the key itself).
    public let source: String

    public init(key: SymmetricKey, source: String) {
        self.key = key
        self.source = source
    }

    /// A new random key, base64-encoded as `RG_MASTER_KEY` and the key file hold it.
    public static func generateEncoded() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Loads the key from the environment or the data directory.
    /// - Parameter mayCreate: create the key file when neither exists (false once the database holds sealed secrets).
    /// - Parameter file: the key file (`master_key_file`); nil: `master.key` in `dataDirectory`.
    public static func load(
        dataDirectory: String,
        file: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        mayCreate: Bool
    ) throws(MasterKeyError) -> MasterKey {
        if let encoded = environment[environmentVariable], !encoded.isEmpty {
            return try decode(encoded, source: "the \(environmentVariable) environment variable")
        }
        let path = file ?? (dataDirectory as NSString).appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw MasterKeyError("the master key file \(path) cannot be read (check its owner and permissions)")
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return try decode(text, source: path)
        }
        guard mayCreate else {
            throw MasterKeyError(
                "no master key: \(path) is missing and \(environmentVariable) is not set, but the database holds secrets sealed under a key. Restore the key file (or set \(environmentVariable)); nothing was changed."
            )
        }
        let encoded = generateEncoded()
        // O_EXCL: two processes starting at once must not both create a key.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return try load(dataDirectory: dataDirectory, file: file, environment: environment, mayCreate: false) }
            throw MasterKeyError("cannot create the master key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array((encoded + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count, fsync(descriptor) == 0 else {
            throw MasterKeyError("cannot write the master key file \(path): \(String(cString: strerror(errno)))")
        }
        return try decode(encoded, source: path)
    }

    static func decode(_ encoded: String, source: String) throws(MasterKeyError) -> MasterKey {
        guard let data = Data(base64Encoded: encoded), data.count == 32 else {
            throw MasterKeyError("the master key in \(source) must be 32 bytes, base64-encoded (e.g. from `openssl rand -base64 32`)")
        }
        return MasterKey(key: SymmetricKey(data: data), source: source)
    }
}

/// A master key problem, said so that an operator can fix it; never contains key material.
public struct MasterKeyError: OperatorFacingError, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
