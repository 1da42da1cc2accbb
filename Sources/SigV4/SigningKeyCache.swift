import Crypto
import NIOConcurrencyHelpers

/// The derived SigV4 signing key of one signer, kept for the UTC day it belongs to.
///
/// A signer is bound to one secret, region and service, so the day is the only part of the
/// (date, region, service, secret) tuple that changes: the four HMACs run once a day per signer.
final class SigningKeyCache: Sendable {
    private let entry = NIOLockedValueBox<(day: Int64, key: SigningKey)?>(nil)

    func key(forDay day: Int64, derive: () -> SigningKey) -> SigningKey {
        entry.withLockedValue { entry in
            if let entry, entry.day == day { return entry.key }
            let key = derive()
            entry = (day, key)
            return key
        }
    }
}
