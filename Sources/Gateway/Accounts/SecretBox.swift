import Crypto
public import Foundation

/// Seals small secrets (AWS secret access keys) with AES-256-GCM under the master key.
///
/// The sealed form is nonce ‖ ciphertext ‖ tag. The `context` (e.g. the account id) is authenticated
/// as associated data, so a sealed secret copied onto another account's row does not open.
public struct SecretBox: Sendable {
    let masterKey: MasterKey

    public init(masterKey: MasterKey) { self.masterKey = masterKey }

    public func seal(_ secret: String, context: String) throws -> Data {
        let box = try AES.GCM.seal(Data(secret.utf8), using: masterKey.key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SecretBoxError.cannotOpen }
        return combined
    }

    public func open(_ sealed: Data, context: String) throws(SecretBoxError) -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plain = try AES.GCM.open(box, using: masterKey.key, authenticating: Data(context.utf8))
            return String(decoding: plain, as: UTF8.self)
        } catch {
            throw .cannotOpen
        }
    }
}

public enum SecretBoxError: Error, Sendable {
    /// Wrong master key, or the sealed bytes were altered.
    case cannotOpen
}
