import Foundation
import Hummingbird
import S3
import Spool

/// The admin JSON API (under `/api/`, bearer token checked by `AdminResponder`): accounts (secrets are
/// accepted, never returned), the connection check, the queue, status. Bad input is a 400 naming the
/// field and changes nothing.
struct AdminAPI: Sendable {
    let accounts: AccountRegistry
    let directory: AccountDirectory
    let ledger: RecordingLedger
    let budget: MemoryBudget
    let metrics: GatewayMetrics
    let publicBaseURL: String
    let startedAt = ContinuousClock.now

    /// `/metrics`: the Prometheus text, gauges read now.
    func metricsText() async throws -> String {
        metrics.render(queue: try await ledger.snapshot(), spool: ledger.spool.status(), budget: budget, accountIds: directory.accountIds)
    }

    /// `/api/status`.
    func status() async -> [String: Any] {
        let uptime = ContinuousClock.now - startedAt
        // One grouped count (the snapshot /metrics reads), not every row; stored rows are history, not depth.
        let counts = (try? await ledger.snapshot().counts) ?? [:]
        var queueDepth: [String: Int] = [:]
        for state in QueuedUpload.State.allCases { queueDepth[state.rawValue] = state == .stored ? 0 : counts[state] ?? 0 }
        return [
            "version": GatewayVersion.current,
            "uptime_seconds": uptime.components.seconds,
            "accounts": directory.count,
            "memory_budget": ["in_use_bytes": budget.inUse, "capacity_bytes": budget.capacity],
            "queue": queueDepth,
        ]
    }

    func respond(_ request: Request, path: String) async throws -> Response {
        // "/api/accounts/<id>/verify" → pattern "accounts/:id/verify", id "<id>".
        var segments = path.split(separator: "/").dropFirst().map(String.init)
        var id = ""
        if segments.count >= 2 && segments[0] == "accounts" {
            id = segments[1]
            segments[1] = ":id"
        }
        let pattern = segments.joined(separator: "/")
        do {
            switch (request.method, pattern) {
            case (.get, "status"):
                return JSONResponse.make(.ok, await status())
            case (.get, "accounts"):
                return JSONResponse.make(.ok, ["accounts": try await summaries(try await accounts.list())])
            case (.post, "accounts"):
                var body = try await Self.object(request)
                guard let newId = body.removeValue(forKey: "account_id") as? String else {
                    throw AccountError.invalid(field: "account_id", "is required (KAZOO's 32-character account id)")
                }
                let (created, token) = try await accounts.add(accountId: newId, try Self.input(body))
                try await directory.refresh()
                return JSONResponse.make(.created, AccountPresentation.issued(created, token: token, publicBaseURL: publicBaseURL))
            case (.get, "accounts/:id"):
                return JSONResponse.make(.ok, try await summaries([try await accounts.find(id)])[0])
            case (.post, "accounts/:id/token"):
                let token = try await accounts.rotateToken(id)
                try await directory.refresh()
                return JSONResponse.make(
                    .ok,
                    AccountPresentation.issued(try await accounts.find(id), token: token, publicBaseURL: publicBaseURL)
                )
            case (.get, "policies"):
                let query = request.uri.queryParameters
                let bucket = query.get("bucket") ?? ""
                let userArn = query.get("user_arn").flatMap { $0.isEmpty ? nil : $0 }
                if let problem = BucketPolicies.problem(bucket: bucket, userArn: userArn) {
                    throw AccountError.invalid(field: problem.input == .bucket ? "bucket" : "user_arn", problem.message)
                }
                return JSONResponse.make(.ok, BucketPolicies.all(bucket: bucket, userArn: userArn, requireTLS: query.get("require_tls") == "true"))
            case (.patch, "accounts/:id"):
                let updated = try await accounts.update(id, try Self.input(try await Self.object(request)))
                try await directory.refresh()
                return JSONResponse.make(.ok, AccountPresentation.object(updated))
            case (.delete, "accounts/:id"):
                try await accounts.remove(id)
                try await directory.refresh()
                return JSONResponse.make(.ok, ["removed": id])
            case (.post, "accounts/:id/verify"):
                guard let check = try ConnectionCheck.forAccount(id, in: directory) else { throw AccountError.notFound(id) }
                let lines = await check.run()
                return JSONResponse.make(
                    .ok,
                    [
                        "passed": ConnectionCheck.passed(lines),
                        "lines": lines.map { ["status": $0.status.rawValue, "check": $0.check, "message": $0.message] },
                    ]
                )
            case (.get, "queue"):
                let query = request.uri.queryParameters
                let state = try query.get("state").map { text in
                    guard let state = QueuedUpload.State(rawValue: text) else {
                        throw AccountError.invalid(field: "state", "must be pending, uploading, stored or failed")
                    }
                    return state
                }
                let limit = try query.get("limit").map { text in
                    guard let limit = Int(text), limit > 0 else { throw AccountError.invalid(field: "limit", "must be a whole number above 0") }
                    return limit
                }
                let entries = try await ledger.uploads(state: state, accountId: query.get("account_id"), limit: limit)
                return JSONResponse.make(
                    .ok,
                    ["uploads": entries.map(QueuePresentation.object), "paused_accounts": try await ledger.pausedAccounts()]
                )
            case (.post, "queue/retry"):
                let body = try await Self.object(request)
                let rowId = body["id"] as? Int
                let accountId = body["account_id"] as? String
                guard [rowId != nil, accountId != nil, body["all"] as? Bool == true].filter({ $0 }).count == 1 else {
                    throw AccountError.invalid(field: "body", "give exactly one of id, account_id or all: true")
                }
                return JSONResponse.make(.ok, ["due_now": try await ledger.retryNow(id: rowId.map(Int64.init), accountId: accountId)])
            default:
                return GatewayError(.notFound, "not_found", "no such admin route").response()
            }
        } catch let error as AccountError {
            switch error {
            case .notFound: return GatewayError(.notFound, "not_found", error.description).response()
            case .duplicate: return GatewayError(.conflict, "duplicate", error.description).response()
            case .invalid: return GatewayError(.badRequest, "invalid", error.description).response()
            }
        }
    }

    /// Accounts as the page lists them: each with when it last stored, its uploads waiting by state, and
    /// why its replays are paused (or null).
    func summaries(_ accounts: [Account]) async throws -> [[String: Any]] {
        let paused = try await ledger.pausedAccounts()
        let waiting = try await ledger.waitingCountsByAccount()
        let lastStores = try await ledger.index.lastStoreTimes(accountIds: accounts.map(\.accountId))
        let formatter = ISO8601DateFormatter()
        return accounts.map { account in
            var object = AccountPresentation.object(account)
            object["replays_paused"] = paused[account.accountId] ?? NSNull()
            object["last_store_at"] = lastStores[account.accountId].map { formatter.string(from: $0) } ?? NSNull()
            var queue: [String: Int] = [:]
            for state in [QueuedUpload.State.pending, .uploading, .failed] { queue[state.rawValue] = waiting[account.accountId]?[state] ?? 0 }
            object["queue"] = queue
            return object
        }
    }

    /// The request's JSON object (at most 64 KiB).
    static func object(_ request: Request) async throws -> [String: Any] {
        let body = try await request.body.collect(upTo: 64 * 1024)
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw AccountError.invalid(field: "body", "must be one JSON object")
        }
        return object
    }

    static let fields: Set<String> = [
        "name", "bucket", "host", "region", "scheme", "path_style", "access_key_id", "secret_access_key", "key_prefix", "sse",
        "kms_key_id", "storage_class", "download_mode", "presign_expiry_seconds", "enabled",
    ]

    /// An `AccountInput` from JSON fields; an unknown field or a wrong type is refused naming the field.
    static func input(_ object: [String: Any]) throws -> AccountInput {
        if let unknown = object.keys.sorted().first(where: { !fields.contains($0) }) {
            throw AccountError.invalid(field: unknown, "is not an account field")
        }
        func string(_ key: String) throws -> String? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let text = value as? String else { throw AccountError.invalid(field: key, "must be a string") }
            return text
        }
        func bool(_ key: String) throws -> Bool? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let flag = value as? Bool else {
                throw AccountError.invalid(field: key, "must be true or false")
            }
            return flag
        }
        var input = AccountInput()
        input.name = try string("name")
        input.bucket = try string("bucket")
        input.host = try string("host")
        input.region = try string("region")
        if let scheme = try string("scheme") {
            guard let parsed = S3Endpoint.Scheme(rawValue: scheme) else { throw AccountError.invalid(field: "scheme", "must be https or http") }
            input.scheme = parsed
        }
        input.pathStyle = try bool("path_style")
        input.accessKeyId = try string("access_key_id")
        input.secretAccessKey = try string("secret_access_key")
        input.keyPrefix = try string("key_prefix")
        if let sse = try string("sse") { input.sse = .some(try AccountInput.encryption(sse)) }
        input.kmsKeyId = try string("kms_key_id")
        input.storageClass = try string("storage_class")
        if let mode = try string("download_mode") {
            guard let parsed = Account.DownloadMode(rawValue: mode) else {
                throw AccountError.invalid(field: "download_mode", "must be redirect or proxy")
            }
            input.downloadMode = parsed
        }
        if let value = object["presign_expiry_seconds"], !(value is NSNull) {
            guard let seconds = value as? Int else { throw AccountError.invalid(field: "presign_expiry_seconds", "must be a whole number") }
            input.presignExpirySeconds = seconds
        }
        input.enabled = try bool("enabled")
        return input
    }
}
