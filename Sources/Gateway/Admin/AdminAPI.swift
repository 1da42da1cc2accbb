import Foundation
import Hummingbird
import S3
import Spool

/// The admin JSON API under `/api/` (the bearer token is checked by `AdminTokenMiddleware`): accounts
/// (secrets are accepted, never returned), the connection check, bucket policies, the queue, status.
/// Bad input is a 400 naming the field and changes nothing (`AccountError` renders itself).
struct AdminAPI: Sendable {
    let accounts: AccountRegistry
    let directory: AccountDirectory
    let ledger: RecordingLedger
    let memory: GatewayMemory
    let metrics: GatewayMetrics
    let publicBaseURL: String
    let startedAt = ContinuousClock.now

    var routes: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("status") { _, _ in await status() }
        routes.get("accounts") { _, _ in AccountListAnswer(accounts: try await summaries(try await accounts.list())) }
        routes.post("accounts") { request, _ in try await create(request) }
        routes.get("accounts/:id") { _, context in try await summary(try await accounts.find(try context.parameters.require("id"))) }
        routes.patch("accounts/:id") { request, context in try await update(request, id: try context.parameters.require("id")) }
        routes.delete("accounts/:id") { _, context in try await remove(try context.parameters.require("id")) }
        routes.post("accounts/:id/token") { _, context in try await rotateToken(try context.parameters.require("id")) }
        routes.post("accounts/:id/verify") { _, context in try await verify(try context.parameters.require("id")) }
        routes.get("policies") { request, _ in try policies(request) }
        routes.get("queue") { request, _ in try await queue(request) }
        routes.post("queue/retry") { request, _ in try await retry(request) }
        return routes
    }

    /// `/metrics`: the Prometheus text, gauges read now.
    func metricsText() async throws -> String {
        metrics.render(queue: try await ledger.snapshot(), spool: ledger.spool.status(), memory: memory, accountIds: directory.accountIds)
    }

    func status() async -> StatusAnswer {
        // One grouped count (the snapshot /metrics reads), not every row; stored rows are history, not depth.
        let snapshot = try? await ledger.snapshot()
        let counts = snapshot?.counts ?? [:]
        var depth: [String: Int] = [:]
        for state in QueuedUpload.State.allCases { depth[state.rawValue] = state == .stored ? 0 : counts[state] ?? 0 }
        return StatusAnswer(
            version: GatewayVersion.current,
            uptimeSeconds: (ContinuousClock.now - startedAt).components.seconds,
            accounts: directory.count,
            memoryBudget: .init(inUseBytes: memory.inUse, capacityBytes: memory.capacity),
            queue: depth,
            replays: .init(
                perSecond: snapshot?.replaysPerSecond ?? 0,
                estimatedDrainSeconds: snapshot?.estimatedDrainSeconds,
                summary: snapshot?.drainSummary ?? "the queue cannot be read"
            )
        )
    }

    func create(_ request: Request) async throws -> EditedResponse<IssuedAccountView> {
        let new = try await request.decodeAdminBody(as: NewAccountRequest.self)
        let (created, token) = try await accounts.add(accountId: new.accountId, new.input)
        try await directory.refresh()
        return EditedResponse(status: .created, response: IssuedAccountView(created, token: token, publicBaseURL: publicBaseURL))
    }

    func update(_ request: Request, id: String) async throws -> AccountView {
        let change = try await request.decodeAdminBody(as: AccountChangeRequest.self)
        let updated = try await accounts.update(id, change.input)
        try await directory.refresh()
        return AccountView(updated)
    }

    func remove(_ id: String) async throws -> RemovedAnswer {
        try await accounts.remove(id)
        try await directory.refresh()
        return RemovedAnswer(removed: id)
    }

    func rotateToken(_ id: String) async throws -> IssuedAccountView {
        let token = try await accounts.rotateToken(id)
        try await directory.refresh()
        return IssuedAccountView(try await accounts.find(id), token: token, publicBaseURL: publicBaseURL)
    }

    func verify(_ id: String) async throws -> VerifyAnswer {
        guard let check = try ConnectionCheck.forAccount(id, in: directory) else { throw AccountError.notFound(id) }
        let lines = await check.run()
        return VerifyAnswer(
            passed: ConnectionCheck.passed(lines),
            lines: lines.map { VerifyAnswer.Line(status: $0.status.rawValue, check: $0.check, message: $0.message) }
        )
    }

    /// The bucket's policies as JSON documents to paste into AWS (built as documents, served as they are).
    func policies(_ request: Request) throws -> Response {
        let query = request.uri.queryParameters
        let bucket = query.get("bucket") ?? ""
        let userArn = query.get("user_arn").flatMap { $0.isEmpty ? nil : $0 }
        if let problem = BucketPolicies.problem(bucket: bucket, userArn: userArn) {
            throw AccountError.invalid(field: problem.input == .bucket ? "bucket" : "user_arn", problem.message)
        }
        return JSONResponse.make(.ok, BucketPolicies.all(bucket: bucket, userArn: userArn, requireTLS: query.get("require_tls") == "true"))
    }

    func queue(_ request: Request) async throws -> QueueAnswer {
        let query = request.uri.queryParameters
        let state = try query.get("state").map { text in
            guard let state = QueuedUpload.State(rawValue: text) else {
                throw AccountError.invalid(field: "state", "must be pending, uploading, stored or failed")
            }
            return state
        }
        let limit =
            try query.get("limit").map { text in
                guard let limit = Int(text), (1...QueueAnswer.maximumLimit).contains(limit) else {
                    throw AccountError.invalid(field: "limit", "must be a whole number from 1 to \(QueueAnswer.maximumLimit)")
                }
                return limit
            } ?? QueueAnswer.defaultLimit
        // One row more than asked tells whether rows were left out.
        let entries = try await ledger.uploads(state: state, accountId: query.get("account_id"), limit: limit + 1)
        return QueueAnswer(
            uploads: entries.prefix(limit).map(QueuedUploadView.init),
            more: entries.count > limit,
            pausedAccounts: try await ledger.pausedAccounts()
        )
    }

    func retry(_ request: Request) async throws -> RetryAnswer {
        let retry = try await request.decodeAdminBody(as: QueueRetryRequest.self)
        return RetryAnswer(dueNow: try await ledger.retryNow(id: retry.id, accountId: retry.accountId))
    }

    func summary(_ account: Account) async throws -> AccountSummary {
        let found = try await summaries([account])
        guard let summary = found.first else { throw AccountError.notFound(account.accountId) }
        return summary
    }

    func summaries(_ list: [Account]) async throws -> [AccountSummary] {
        let paused = try await ledger.pausedAccounts()
        let waiting = try await ledger.waitingCountsByAccount()
        let lastStores = try await ledger.index.lastStoreTimes(accountIds: list.map(\.accountId))
        let formatter = ISO8601DateFormatter()
        return list.map { account in
            var queue: [String: Int] = [:]
            for state in [QueuedUpload.State.pending, .uploading, .failed] { queue[state.rawValue] = waiting[account.accountId]?[state] ?? 0 }
            return AccountSummary(
                account: AccountView(account),
                replaysPaused: paused[account.accountId],
                lastStoreAt: lastStores[account.accountId].map { formatter.string(from: $0) },
                queue: queue
            )
        }
    }
}
