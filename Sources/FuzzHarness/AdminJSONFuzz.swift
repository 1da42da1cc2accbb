import Foundation
import Gateway

/// The body of an admin API call, decoded as the admin API decodes it (`POST /api/accounts`,
/// `PATCH /api/accounts/ID`, `POST /api/queue/retry`) and applied to an account. Properties: decoding and
/// validation end without a crash; a refusal never repeats the secret access key it was given.
enum AdminJSONFuzz {
    static let time = Date(timeIntervalSince1970: 1_800_000_000)

    /// An account a change is applied to.
    static let existing: Account? = {
        var input = AccountInput()
        input.name = "Fuzzing Clinic"
        input.bucket = "fuzz-recordings"
        input.host = "s3.us-east-1.amazonaws.com"
        input.accessKeyId = "AKIAIOSFODNN7EXAMPLE"
        input.secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        return try? AccountRegistry.newAccount(accountId: String(repeating: "ab", count: 16), input, at: time)
    }()

    static func run(_ input: [UInt8]) throws(FuzzFailure) {
        let data = Data(input)
        let text = String(decoding: input, as: UTF8.self)
        let decoder = JSONDecoder()
        var refusals: [(message: String, secret: String?)] = []
        do {
            let request = try decoder.decode(NewAccountRequest.self, from: data)
            do {
                _ = try AccountRegistry.newAccount(accountId: request.accountId, request.input, at: time)
            } catch {
                refusals.append(("\(error)", request.input.secretAccessKey))
            }
        } catch {
            refusals.append(("\(error)", nil))
        }
        do {
            let change = try decoder.decode(AccountChangeRequest.self, from: data)
            do {
                if let existing { _ = try change.input.applied(to: existing) }
            } catch {
                refusals.append(("\(error)", change.input.secretAccessKey))
            }
        } catch {
            refusals.append(("\(error)", nil))
        }
        _ = try? decoder.decode(QueueRetryRequest.self, from: data)
        for refusal in refusals {
            try checkSecret(refusal.secret ?? secretText(in: text), absentFrom: refusal.message, in: text)
        }
    }

    /// The text that follows `"secret_access_key"` in a body that could not be decoded.
    static func secretText(in text: String) -> String {
        guard let key = text.range(of: "\"secret_access_key\"") else { return "" }
        let rest = text[key.upperBound...].drop { $0 == ":" || $0 == " " || $0 == "\"" }
        return String(rest.prefix { $0 != "\"" && $0 != "," && $0 != "}" })
    }

    /// A secret of 8 characters or more that occurs once in the body never appears in the refusal.
    static func checkSecret(_ secret: String, absentFrom message: String, in text: String) throws(FuzzFailure) {
        guard secret.count >= 8, text.ranges(of: secret).count == 1 else { return }
        try fuzzCheck(!message.contains(secret), "a refusal repeated the secret access key: \(message)")
    }
}
