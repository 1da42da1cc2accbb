import Crypto
import Foundation
import S3

/// The per-account secret KAZOO puts in its storage URL path (`/k/<token>/...`).
///
/// 32 random bytes, base64url without padding (43 URL-safe characters) after an `rg_` tag. Only
/// the SHA-256 of a token is stored; presented tokens are hashed and the hashes compared in
/// constant time. Lookups go by hash, so the time a lookup takes says nothing about any token.
public enum ClientToken {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "rg_" + base64
    }

    /// The stored form: lowercase hex SHA-256.
    public static func hash(_ token: some StringProtocol) -> String {
        ObjectChecksum.hex(SHA256.hash(data: Array(token.utf8)))
    }

    /// Compares two hashes without an early exit.
    public static func hashesMatch(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }

    /// Whether `text` could be a token at all (cheap filter before hashing).
    static func looksLikeToken(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 46 && text.hasPrefix("rg_")
    }
}
