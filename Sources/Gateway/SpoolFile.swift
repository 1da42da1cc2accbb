import Crypto
import Foundation
import S3

/// The encrypted write-ahead file a recording is spooled to (issue 5 builds the queue around it).
///
/// Layout: a prelude (`RGSPOOL1`, the format version, the per-file data key sealed under the master
/// key), then records, each `kind(1) ‖ length(4, big-endian) ‖ AES-256-GCM ciphertext ‖ tag(16)`:
/// one header record (JSON: account, key, content type, metadata), data records of at most
/// `chunkSize` bytes, and one trailer record (JSON: size and SHA-256 of the object). A record's
/// nonce is its index and its associated data its kind and index, so records cannot be reordered,
/// dropped, repeated or altered without the read failing; a file without its trailer is incomplete.
public enum SpoolFile {
    static let magic = Array("RGSPOOL1".utf8)
    static let version: UInt16 = 1
    public static let chunkSize = 64 * 1024

    enum Kind: UInt8 {
        case header = 1
        case data = 2
        case trailer = 3
    }

    /// What a spooled recording is, recorded in its header.
    public struct Header: Codable, Sendable, Hashable {
        public var accountId: String
        public var objectKey: String
        public var requestPath: String
        public var contentType: String?
        public var metadata: [String: String]

        public init(accountId: String, objectKey: String, requestPath: String, contentType: String?, metadata: [String: String]) {
            self.accountId = accountId
            self.objectKey = objectKey
            self.requestPath = requestPath
            self.contentType = contentType
            self.metadata = metadata
        }
    }

    struct Trailer: Codable {
        var size: Int
        var sha256: String
    }

    static func nonce(_ index: UInt64) throws -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for shift in 0..<8 { bytes[4 + shift] = UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64(shift))) }
        return try AES.GCM.Nonce(data: bytes)
    }

    static func associatedData(_ kind: Kind, _ index: UInt64) -> [UInt8] {
        [kind.rawValue] + (0..<8).map { UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64($0))) }
    }

    static func keyContext() -> Data { Data("spool data key v\(version)".utf8) }
}

/// Why a spool file cannot be read back; the file is never uploaded then.
public struct SpoolIntegrityError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "spool file failed its integrity check: \(description)" }
}

/// Writes one spool file; `finish` completes it (and, when asked, makes it durable), `discard` removes it.
/// Used by one task at a time.
public final class SpoolWriter {
    let descriptor: Int32
    var closed = false
    public let path: String
    let key: SymmetricKey
    var index: UInt64 = 0
    var size = 0
    var hasher = SHA256()
    var pending: [UInt8] = []

    /// Creates `path` (mode 0600, never over an existing file) and writes the prelude and header.
    public init(path: String, masterKey: MasterKey, header: SpoolFile.Header) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolWriteError(path: path, errno: errno) }
        self.descriptor = descriptor
        self.path = path
        self.key = SymmetricKey(size: .bits256)
        do {
            let sealedKey = try AES.GCM.seal(key.withUnsafeBytes { Data($0) }, using: masterKey.key, authenticating: SpoolFile.keyContext())
            guard let combined = sealedKey.combined else { throw SpoolWriteError(path: path, errno: EINVAL) }
            var prelude = SpoolFile.magic
            prelude += [UInt8(SpoolFile.version >> 8), UInt8(SpoolFile.version & 0xFF)]
            prelude += [UInt8(combined.count >> 8), UInt8(combined.count & 0xFF)]
            prelude += combined
            try writeAll(prelude)
            try writeRecord(.header, Array(try JSONEncoder().encode(header)))
        } catch {
            closeOnce()
            unlink(path)
            throw error
        }
    }

    /// Appends object bytes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        size += bytes.count
        var offset = 0
        while offset < bytes.count {
            let take = min(SpoolFile.chunkSize - pending.count, bytes.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
            if pending.count == SpoolFile.chunkSize {
                try writeRecord(.data, pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Writes the trailer and closes the file; with `durable`, fsyncs the file and its directory first.
    /// Returns the object's size and `sha256:<hex>`.
    public func finish(durable: Bool) throws -> (size: Int, checksum: String) {
        defer { closeOnce() }
        if !pending.isEmpty { try writeRecord(.data, pending) }
        let checksum = ObjectChecksum.single(hasher.finalize())
        try writeRecord(.trailer, Array(try JSONEncoder().encode(SpoolFile.Trailer(size: size, sha256: checksum))))
        if durable {
            guard fsync(descriptor) == 0 else { throw SpoolWriteError(path: path, errno: errno) }
            let directory = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else { throw SpoolWriteError(path: path, errno: errno) }
            defer { close(directory) }
            guard fsync(directory) == 0 else { throw SpoolWriteError(path: path, errno: errno) }
        }
        return (size, checksum)
    }

    /// Gives up: closes and removes the file.
    public func discard() {
        closeOnce()
        unlink(path)
    }

    deinit { closeOnce() }

    func closeOnce() {
        guard !closed else { return }
        closed = true
        close(descriptor)
    }

    func writeRecord(_ kind: SpoolFile.Kind, _ plaintext: [UInt8]) throws {
        let box = try AES.GCM.seal(
            plaintext,
            using: key,
            nonce: try SpoolFile.nonce(index),
            authenticating: SpoolFile.associatedData(kind, index)
        )
        let length = UInt32(plaintext.count)
        var record: [UInt8] = [kind.rawValue, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        record += box.ciphertext
        record += box.tag
        try writeAll(record)
        index += 1
    }

    func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SpoolWriteError(path: path, errno: errno)
            }
            offset += written
        }
    }
}

/// The spool could not be written (ENOSPC, EDQUOT, ...): the caller stops spooling.
public struct SpoolWriteError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot write spool file \(path): \(String(cString: strerror(errno)))" }
}

/// Reads a spool file back, checking every record; the object bytes come out in order.
public struct SpoolReader {
    public let header: SpoolFile.Header
    let data: Data
    let key: SymmetricKey
    var offset: Int
    var index: UInt64 = 1
    var size = 0
    var hasher = SHA256()
    var done = false

    public init(path: String, masterKey: MasterKey) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw SpoolIntegrityError("\(path) cannot be read") }
        self.data = data
        let bytes = [UInt8](data)
        let magicCount = SpoolFile.magic.count
        guard bytes.count > magicCount + 4, Array(bytes[..<magicCount]) == SpoolFile.magic else {
            throw SpoolIntegrityError("\(path) is not a spool file")
        }
        let version = UInt16(bytes[magicCount]) << 8 | UInt16(bytes[magicCount + 1])
        guard version == SpoolFile.version else { throw SpoolIntegrityError("\(path) has format version \(version)") }
        let keyLength = Int(bytes[magicCount + 2]) << 8 | Int(bytes[magicCount + 3])
        let keyStart = magicCount + 4
        guard bytes.count >= keyStart + keyLength,
            let box = try? AES.GCM.SealedBox(combined: data[keyStart..<(keyStart + keyLength)]),
            let keyData = try? AES.GCM.open(box, using: masterKey.key, authenticating: SpoolFile.keyContext())
        else { throw SpoolIntegrityError("\(path)'s data key does not open with this master key") }
        key = SymmetricKey(data: keyData)
        offset = keyStart + keyLength
        var first = Self.RecordCursor(data: data, offset: offset)
        let (kind, plaintext) = try first.next(key: key, index: 0)
        guard kind == .header, let header = try? JSONDecoder().decode(SpoolFile.Header.self, from: Data(plaintext)) else {
            throw SpoolIntegrityError("\(path) has no valid header")
        }
        self.header = header
        offset = first.offset
    }

    /// The next chunk of object bytes, or nil after the trailer confirmed size and checksum.
    public mutating func next() throws -> [UInt8]? {
        guard !done else { return nil }
        var cursor = Self.RecordCursor(data: data, offset: offset)
        let (kind, plaintext) = try cursor.next(key: key, index: index)
        offset = cursor.offset
        index += 1
        switch kind {
        case .data:
            size += plaintext.count
            hasher.update(data: plaintext)
            return plaintext
        case .trailer:
            done = true
            guard let trailer = try? JSONDecoder().decode(SpoolFile.Trailer.self, from: Data(plaintext)) else {
                throw SpoolIntegrityError("the trailer is not valid")
            }
            let checksum = ObjectChecksum.single(hasher.finalize())
            guard trailer.size == size, trailer.sha256 == checksum, offset == data.count else {
                throw SpoolIntegrityError("the object's size or checksum does not match its trailer")
            }
            return nil
        case .header:
            throw SpoolIntegrityError("a second header record")
        }
    }

    struct RecordCursor {
        let data: Data
        var offset: Int

        mutating func next(key: SymmetricKey, index: UInt64) throws -> (SpoolFile.Kind, [UInt8]) {
            let start = data.startIndex + offset
            guard data.count - offset >= 5 + 16 else { throw SpoolIntegrityError("the file ends early (no trailer: incomplete)") }
            guard let kind = SpoolFile.Kind(rawValue: data[start]) else { throw SpoolIntegrityError("an unknown record kind") }
            let length = Int(data[start + 1]) << 24 | Int(data[start + 2]) << 16 | Int(data[start + 3]) << 8 | Int(data[start + 4])
            guard length <= SpoolFile.chunkSize * 4, data.count - offset >= 5 + length + 16 else {
                throw SpoolIntegrityError("the file ends early (no trailer: incomplete)")
            }
            let body = start + 5
            do {
                let box = try AES.GCM.SealedBox(
                    nonce: try SpoolFile.nonce(index),
                    ciphertext: data[body..<(body + length)],
                    tag: data[(body + length)..<(body + length + 16)]
                )
                let plaintext = try AES.GCM.open(box, using: key, authenticating: SpoolFile.associatedData(kind, index))
                offset += 5 + length + 16
                return (kind, [UInt8](plaintext))
            } catch {
                throw SpoolIntegrityError("record \(index) does not authenticate (altered or reordered)")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
