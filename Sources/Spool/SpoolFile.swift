public import Crypto
import Foundation
public import S3
import Synchronization

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
    /// The key that seals each file's own data key (the gateway's master key).
    let masterKey: SymmetricKey
    var index: UInt64 = 0
    var size = 0
    var pending: [UInt8] = []
    let usage: SpoolUsage?
    /// Where the file goes when its store is over (`discard`), to be written over by a later store.
    let pool: SpoolFilePool?
    /// Bytes this file holds on disk (charged to `usage`).
    public private(set) var fileBytes = 0
    /// Where the next write goes: the file's bytes are written from its start, in order.
    var position = 0
    /// The size of the kept file this one was made from (its bytes past `position` are a former store's).
    let formerSize: Int
    /// A write failed (disk full, quota): the file is unlinked, not kept.
    var failed = false
    /// Whether and where the file's bytes past a threshold go direct (`DirectWrites`); nil: the page cache only.
    let directSettings: DirectWrites.Settings?
    /// The file's direct writes, once past the threshold (if a staging buffer could be had).
    var direct: DirectWrites?
    /// Where direct writes are tried next: the threshold, then a staging buffer's size further on each time
    /// the budget had no room; nil once they began or the filesystem refused them.
    var nextDirectTry: Int?

    /// Creates `path` (mode 0600, never over an existing file) and writes the prelude and header; the
    /// file's bytes are charged to `usage`, whose quota a write may not pass. With a `pool`, a kept file is
    /// taken and renamed to `path` instead, and written over from its start.
    public init(
        path: String,
        masterKey: SymmetricKey,
        header: SpoolFile.Header,
        usage: SpoolUsage? = nil,
        pool: SpoolFilePool? = nil,
        direct: DirectWrites.Settings? = nil
    ) throws {
        self.usage = usage
        self.directSettings = direct
        self.nextDirectTry = direct?.threshold
        self.masterKey = masterKey
        self.pool = pool
        let (descriptor, formerSize) = try Self.openFile(path, pool: pool)
        self.descriptor = descriptor
        self.formerSize = formerSize
        self.path = path
        self.key = SymmetricKey(size: .bits256)
        do {
            let sealedKey = try AES.GCM.seal(key.withUnsafeBytes { Data($0) }, using: masterKey, authenticating: SpoolFile.keyContext())
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

    /// A kept file from `pool` moved to `path` (linked, so never over an existing file), else a new one.
    static func openFile(_ path: String, pool: SpoolFilePool?) throws -> (descriptor: Int32, formerSize: Int) {
        if let pool, let kept = pool.take() {
            let keptPath = pool.directory + "/" + kept.name
            let linked = link(keptPath, path) == 0
            unlink(keptPath)
            if linked {
                let descriptor = open(path, O_RDWR | O_CLOEXEC)
                if descriptor >= 0 { return (descriptor, kept.size) }
                unlink(path)
            }
        }
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolWriteError(path: path, errno: errno) }
        return (descriptor, 0)
    }

    /// Appends object bytes. Nothing is hashed here: on the fast path (S3 took the object) the file is
    /// discarded, so the object's checksum is computed by `finish` only, from the file.
    ///
    /// Whole records are sealed straight from the caller's buffer; only a tail shorter than a record is
    /// copied aside, and it goes out as a short record of its own when the next write brings a whole record
    /// (records may be shorter than `chunkSize`), so a body read in pieces of any size is copied at most once
    /// per record, not byte by byte.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        size += bytes.count
        var offset = 0
        while offset < bytes.count {
            if bytes.count - offset >= SpoolFile.chunkSize {
                if !pending.isEmpty {
                    try writeRecord(.data, pending)
                    pending.removeAll(keepingCapacity: true)
                }
                try writeRecord(.data, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + SpoolFile.chunkSize)]))
                offset += SpoolFile.chunkSize
                continue
            }
            let take = min(SpoolFile.chunkSize - pending.count, bytes.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
            if pending.count == SpoolFile.chunkSize {
                try writeRecord(.data, pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Writes the trailer (size and SHA-256, read back from what the file holds, so every record is
    /// checked once more) and closes the file; with `durable`, fsyncs the file and its directory first.
    /// Returns the object's size and `sha256:<hex>`.
    public func finish(durable: Bool) throws -> (size: Int, checksum: String) {
        defer { closeOnce() }
        if !pending.isEmpty { try writeRecord(.data, pending) }
        nextDirectTry = nil  // what is left (the trailer) goes through the page cache
        if let direct {
            self.direct = nil
            try failing { () throws(WriteFailure) in try direct.finish() }
        }
        // A file made from a kept one still holds a former store's bytes past this one's: they go first, so
        // the file ends where this store's records do (its trailer is appended next).
        if formerSize > position {
            guard ftruncate(descriptor, off_t(position)) == 0 else { throw SpoolWriteError(path: path, errno: errno) }
        }
        let written = try SpoolReader(path: path, masterKey: masterKey, trailerExpected: false)
        while try written.next() != nil {}
        guard written.size == size else { throw SpoolIntegrityError("\(path) holds \(written.size) bytes, \(size) were written") }
        let checksum = ObjectChecksum.single(written.hasher.finalize())
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

    /// Gives up (or no longer needs the file): closes it and hands it to the pool to be written over by a
    /// later store, or removes it (no pool, a full pool, or a write that failed).
    public func discard() {
        closeOnce()
        if let pool, !failed {
            pool.keep(path: path, size: max(formerSize, position))
        } else {
            unlink(path)
        }
        usage?.release(fileBytes)
        fileBytes = 0
    }

    deinit { closeOnce() }

    func closeOnce() {
        guard !closed else { return }
        closed = true
        direct?.release()
        direct = nil
        close(descriptor)
    }

    func writeRecord(_ kind: SpoolFile.Kind, _ plaintext: some DataProtocol) throws {
        let box = try AES.GCM.seal(
            plaintext,
            using: key,
            nonce: try SpoolFile.nonce(index),
            authenticating: SpoolFile.associatedData(kind, index)
        )
        let length = UInt32(plaintext.count)
        let head: [UInt8] = [kind.rawValue, UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
        // Head, ciphertext and tag in one writev: no copy into a record buffer first.
        try head.withUnsafeBytes { head in
            try box.ciphertext.withUnsafeBytes { ciphertext in
                try box.tag.withUnsafeBytes { tag in try writeAll([head, ciphertext, tag]) }
            }
        }
        index += 1
    }

    func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeAll([$0]) }
    }

    /// Writes every byte of `pieces`, in order, charging them to the quota first; once the file passes the
    /// threshold of direct writes (and a staging buffer can be had), through `DirectWrites`.
    func writeAll(_ pieces: [UnsafeRawBufferPointer]) throws {
        let total = pieces.reduce(0) { $0 + $1.count }
        if let usage {
            guard usage.charge(total) else {
                failed = true
                throw SpoolWriteError(path: path, errno: EDQUOT)
            }
            fileBytes += total
        }
        let end = position + total
        defer { position = end }
        try failing { () throws(WriteFailure) in
            if let direct {
                try direct.write(pieces)
            } else {
                try writeFully(descriptor, pieces, at: position)
            }
        }
        if let directSettings, let next = nextDirectTry, end >= next {
            switch DirectWrites.begin(descriptor: descriptor, position: end, budget: directSettings.budget) {
            case .direct(let writes):
                direct = writes
                nextDirectTry = nil
            case .noRoom: nextDirectTry = end + DirectWrites.stagingSize
            case .refused: nextDirectTry = nil
            }
        }
    }

    /// Runs a write; if it fails the file is marked failed (unlinked, not kept) and the error names it.
    func failing(_ write: () throws(WriteFailure) -> Void) throws(SpoolWriteError) {
        do {
            try write()
        } catch {
            failed = true
            throw SpoolWriteError(path: path, errno: error.errno)
        }
    }
}

/// The bytes all spool files hold, against an optional quota (0: none).
public final class SpoolUsage: Sendable {
    let used: Atomic<Int>
    public let quota: Int

    public init(used: Int = 0, quota: Int = 0) {
        self.used = Atomic(used)
        self.quota = quota
    }

    public var bytes: Int { used.load(ordering: .relaxed) }

    /// Adds `count` bytes unless that passes the quota.
    func charge(_ count: Int) -> Bool {
        let total = used.add(count, ordering: .relaxed).newValue
        if quota > 0 && total > quota {
            used.subtract(count, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ count: Int) { used.subtract(count, ordering: .relaxed) }
}

/// The spool could not be written (ENOSPC, EDQUOT, ...): the caller stops spooling.
public struct SpoolWriteError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }
    public var description: String { "cannot write spool file \(path): \(String(cString: strerror(errno)))" }
}

/// Reads a spool file back, checking every record; the object bytes come out in order, one record
/// (at most `SpoolFile.chunkSize` bytes) at a time, so memory stays bounded whatever the file's size.
/// Used by one task at a time.
public final class SpoolReader {
    public let header: SpoolFile.Header
    let descriptor: Int32
    let key: SymmetricKey
    var index: UInt64 = 1
    var size = 0
    var hasher = SHA256()
    var done = false
    /// false while the file is still being written (`SpoolWriter.finish` reads it back): its end is the end.
    let trailerExpected: Bool

    public init(path: String, masterKey: SymmetricKey, trailerExpected: Bool = true) throws {
        self.trailerExpected = trailerExpected
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SpoolIntegrityError("\(path) cannot be read (\(String(cString: strerror(errno))))") }
        self.descriptor = descriptor
        do {
            let magicCount = SpoolFile.magic.count
            guard let prelude = try Self.read(descriptor, magicCount + 4), Array(prelude[..<magicCount]) == SpoolFile.magic else {
                throw SpoolIntegrityError("\(path) is not a spool file")
            }
            let version = UInt16(prelude[magicCount]) << 8 | UInt16(prelude[magicCount + 1])
            guard version == SpoolFile.version else { throw SpoolIntegrityError("\(path) has format version \(version)") }
            let keyLength = Int(prelude[magicCount + 2]) << 8 | Int(prelude[magicCount + 3])
            guard let sealed = try Self.read(descriptor, keyLength),
                let box = try? AES.GCM.SealedBox(combined: sealed),
                let keyData = try? AES.GCM.open(box, using: masterKey, authenticating: SpoolFile.keyContext())
            else { throw SpoolIntegrityError("\(path)'s data key does not open with this master key") }
            key = SymmetricKey(data: keyData)
            let (kind, plaintext) = try Self.nextRecord(descriptor, key: key, index: 0)
            guard kind == .header, let header = try? JSONDecoder().decode(SpoolFile.Header.self, from: Data(plaintext)) else {
                throw SpoolIntegrityError("\(path) has no valid header")
            }
            self.header = header
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// The next chunk of object bytes, or nil after the trailer confirmed size and checksum.
    public func next() throws -> [UInt8]? {
        guard !done else { return nil }
        if !trailerExpected, try Self.atEnd(descriptor) {
            done = true
            return nil
        }
        let (kind, plaintext) = try Self.nextRecord(descriptor, key: key, index: index)
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
            guard trailer.size == size, trailer.sha256 == checksum else {
                throw SpoolIntegrityError("the object's size or checksum does not match its trailer")
            }
            guard try Self.read(descriptor, 1) == nil else { throw SpoolIntegrityError("bytes follow the trailer") }
            return nil
        case .header:
            throw SpoolIntegrityError("a second header record")
        }
    }

    /// Reads and opens record `index`.
    static func nextRecord(_ descriptor: Int32, key: SymmetricKey, index: UInt64) throws -> (SpoolFile.Kind, [UInt8]) {
        let incomplete = SpoolIntegrityError("the file ends early (no trailer: incomplete)")
        guard let head = try read(descriptor, 5) else { throw incomplete }
        guard let kind = SpoolFile.Kind(rawValue: head[0]) else { throw SpoolIntegrityError("an unknown record kind") }
        let length = Int(head[1]) << 24 | Int(head[2]) << 16 | Int(head[3]) << 8 | Int(head[4])
        guard length <= SpoolFile.chunkSize * 4 else { throw SpoolIntegrityError("record \(index) has an impossible length") }
        guard let body = try read(descriptor, length + 16) else { throw incomplete }
        do {
            let box = try AES.GCM.SealedBox(
                nonce: try SpoolFile.nonce(index),
                ciphertext: body[..<length],
                tag: body[length...]
            )
            return (kind, [UInt8](try AES.GCM.open(box, using: key, authenticating: SpoolFile.associatedData(kind, index))))
        } catch {
            throw SpoolIntegrityError("record \(index) does not authenticate (altered or reordered)")
        }
    }

    /// Whether the file has no more bytes (without moving).
    static func atEnd(_ descriptor: Int32) throws -> Bool {
        let position = lseek(descriptor, 0, SEEK_CUR)
        var info = stat()
        guard position >= 0, fstat(descriptor, &info) == 0 else { throw SpoolIntegrityError("the file cannot be read") }
        return position >= info.st_size
    }

    /// Exactly `count` bytes, or nil when the file ends first (an empty read of 0 bytes is `[]`).
    static func read(_ descriptor: Int32, _ count: Int) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { Glibc.read(descriptor, $0 + filled, count - filled) } ?? 0
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw SpoolIntegrityError("the file cannot be read (\(String(cString: strerror(errno))))")
            }
            if got == 0 { return nil }
            filled += got
        }
        return bytes
    }
}

#if canImport(Glibc)
import Glibc
#endif
