import Foundation
import GRDB
import Testing

@testable import Gateway

struct AccountRegistryTests {
    static let id = "0123456789abcdef0123456789abcdef"
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

    static func input(secret: String? = AccountRegistryTests.secret) -> AccountInput {
        var input = AccountInput()
        input.name = "Acme Dental"
        input.bucket = "acme-recordings"
        input.host = "s3.us-west-1.amazonaws.com"
        input.accessKeyId = "AKIAIOSFODNN7EXAMPLE"
        input.secretAccessKey = secret
        return input
    }

    static func store(_ database: SQLiteDatabase? = nil, key: String = MasterKey.generateEncoded()) throws -> AccountRegistry {
        let masterKey = try MasterKey.decode(key, source: "test")
        return AccountRegistry(storage: try database ?? SQLiteDatabase.inMemory(), masterKey: masterKey)
    }

    @Test func addListShowUpdateRotateRemove() async throws {
        let store = try Self.store()
        try await store.checkMasterKey()
        let (account, token) = try await store.add(accountId: Self.id, Self.input())
        #expect(account.bucket == "acme-recordings")
        #expect(try account.endpoint().region == "us-west-1")
        #expect(account.sse == .aes256)
        #expect(account.downloadMode == .redirect)
        #expect(ClientToken.looksLikeToken(token))
        #expect(try await store.list().map(\.accountId) == [Self.id])

        var change = AccountInput()
        change.keyPrefix = "recordings"
        change.downloadMode = .proxy
        let updated = try await store.update(Self.id, change)
        #expect(updated.keyPrefix == "recordings/")
        #expect(updated.downloadMode == .proxy)
        #expect(try await store.find(Self.id).keyPrefix == "recordings/")

        let newToken = try await store.rotateToken(Self.id)
        #expect(newToken != token)
        try await store.remove(Self.id)
        await #expect(throws: AccountError.notFound(Self.id)) { try await store.find(Self.id) }
    }

    @Test func onlyHashesAndSealedSecretsAreStored() async throws {
        let database = try SQLiteDatabase.inMemory()
        let store = try Self.store(database)
        let (_, token) = try await store.add(accountId: Self.id, Self.input())
        let row = try database.writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM account") }
        let dump = try #require(row).description
        #expect(!dump.contains(token))
        #expect(!dump.contains(Self.secret))
        let sealed: Data = try #require(row)["sealed_secret"]
        #expect(sealed.range(of: Data(Self.secret.utf8)) == nil)
        #expect(try #require(row)["token_hash"] == ClientToken.hash(token))
    }

    @Test func badInputIsRefusedNamingTheField() async throws {
        let store = try Self.store()
        func field(_ id: String = AccountRegistryTests.id, _ change: (inout AccountInput) -> Void) async -> String? {
            var input = Self.input()
            change(&input)
            do {
                _ = try await store.add(accountId: id, input)
                return nil
            } catch let error as AccountError {
                #expect(!error.description.contains(Self.secret))
                return error.field
            } catch {
                return "unexpected \(error)"
            }
        }
        #expect(await field("0123456789ABCDEF0123456789ABCDEF") { _ in } == "account_id")
        #expect(await field("0123") { _ in } == "account_id")
        #expect(await field { $0.bucket = "" } == "bucket")
        #expect(await field { $0.bucket = "Bad_Bucket" } == "bucket")
        #expect(await field { $0.host = "s3.amazonaws.com/acme" } == "host")
        #expect(await field { $0.host = "https://s3.amazonaws.com" } == "host")
        #expect(await field { $0.accessKeyId = "a b" } == "access_key_id")
        #expect(await field { $0.secretAccessKey = "" } == "secret_access_key")
        #expect(await field { $0.keyPrefix = "a/../b" } == "prefix")
        #expect(await field { $0.presignExpirySeconds = 604_801 } == "presign_expiry_seconds")
        #expect(await field { $0.kmsKeyId = "arn:aws:kms:us-west-1:1:key/x" } == "kms_key_id")
        #expect(try await store.list().isEmpty)

        _ = try await store.add(accountId: Self.id, Self.input())
        await #expect(throws: AccountError.duplicate(Self.id)) { _ = try await store.add(accountId: Self.id, Self.input()) }
    }

    @Test func aWrongMasterKeyIsAClearErrorAndChangesNothing() async throws {
        let database = try SQLiteDatabase.inMemory()
        let store = try Self.store(database)
        try await store.checkMasterKey()
        _ = try await store.add(accountId: Self.id, Self.input())
        let before = try database.writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM account") }

        let wrong = try Self.store(database)
        await #expect(throws: MasterKeyError.self) { try await wrong.checkMasterKey() }
        let after = try database.writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM account") }
        #expect(before == after)
    }

    @Test func tokenHashesCompareOnlyWhenEqual() {
        let token = ClientToken.generate()
        #expect(token.count == 46)
        #expect(ClientToken.hashesMatch(ClientToken.hash(token), ClientToken.hash(token)))
        #expect(!ClientToken.hashesMatch(ClientToken.hash(token), ClientToken.hash(token + "x")))
        #expect(!ClientToken.hashesMatch("ab", "abc"))
    }
}

struct MasterKeyTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "rg-key-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func keyFileIsCreatedOwnerOnlyAndReadBack() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try MasterKey.load(dataDirectory: directory, environment: [:], mayCreate: true)
        let path = directory + "/master.key"
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let second = try MasterKey.load(dataDirectory: directory, environment: [:], mayCreate: true)
        let box = SecretBox(masterKey: first)
        #expect(try SecretBox(masterKey: second).open(try box.seal("s", context: "c"), context: "c") == "s")
        #expect(throws: SecretBoxError.self) { _ = try box.open(try box.seal("s", context: "c"), context: "other account") }
    }

    @Test func environmentWinsAndMissingKeyWithSealedDataIsRefused() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let encoded = MasterKey.generateEncoded()
        let key = try MasterKey.load(dataDirectory: directory, environment: [MasterKey.environmentVariable: encoded], mayCreate: true)
        #expect(key.source.contains(MasterKey.environmentVariable))
        #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"))
        #expect(throws: MasterKeyError.self) { _ = try MasterKey.load(dataDirectory: directory, environment: [:], mayCreate: false) }
        #expect(!FileManager.default.fileExists(atPath: directory + "/master.key"))
        #expect(throws: MasterKeyError.self) {
            _ = try MasterKey.load(dataDirectory: directory, environment: [MasterKey.environmentVariable: "c2hvcnQ="], mayCreate: true)
        }
    }
}

struct AccountPresentationTests {
    @Test func storageDocumentIsWhatKazooTakes() async throws {
        let url = AccountPresentation.storageURL(publicBaseURL: "https://gw.example.com/", token: "rg_t")
        #expect(url == "https://gw.example.com/k/rg_t")
        let text = AccountPresentation.json(AccountPresentation.storageDocument(accountId: AccountRegistryTests.id, storageURL: url))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let data = try #require(parsed["data"] as? [String: Any])
        let attachments = try #require(data["attachments"] as? [String: [String: Any]])
        let (handlerId, handler) = try #require(attachments.first)
        #expect(handlerId.count == 32 && handlerId.allSatisfy(\.isHexDigit))
        #expect(handler["handler"] as? String == "http")
        let settings = try #require(handler["settings"] as? [String: Any])
        #expect(settings["url"] as? String == url)
        #expect(settings["verb"] as? String == "put")
        let plan = try #require(data["plan"] as? [String: Any])
        let planned =
            ((((plan["modb"] as? [String: Any])?["types"] as? [String: Any])?["call_recording"] as? [String: Any])?["attachments"]
            as? [String: Any])?["handler"] as? String
        #expect(planned == handlerId)
    }

    @Test func theAccountsJSONShowsEverySettingAndNoSecret() async throws {
        let store = try AccountRegistryTests.store()
        let (account, _) = try await store.add(accountId: AccountRegistryTests.id, AccountRegistryTests.input())
        let object = AccountPresentation.object(account)
        #expect(object["account_id"] as? String == AccountRegistryTests.id)
        #expect(object["effective_region"] as? String == "us-west-1")
        // Absent optional settings are there, as null.
        for key in ["region", "kms_key_id", "storage_class", "presign_expiry_seconds"] { #expect(object[key] is NSNull, "\(key)") }
        #expect(!AccountPresentation.json(object).contains(AccountRegistryTests.secret))
        #expect(Set(object.keys).isDisjoint(with: ["secret_access_key", "sealed_secret", "token_hash"]))
    }
}
