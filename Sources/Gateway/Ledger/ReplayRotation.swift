import Foundation

/// Which accounts' due rows are replayed next: round robin over the accounts with due rows, one row
/// each per turn, so one account's backlog of thousands does not delay another's ten. An account has
/// at most `perAccount` replays running; a paused account gets one row (its probe) when its probe is
/// due and none of its rows runs, and nothing otherwise.
struct ReplayRotation: Sendable {
    let perAccount: Int
    /// The account served last; the next turn starts after it.
    private(set) var lastServed: String?

    init(perAccount: Int) {
        self.perAccount = max(1, perAccount)
    }

    /// Shares of `free` replay slots: rows to take by account.
    /// - Parameters:
    ///   - due: due rows by account.
    ///   - running: replays running by account.
    ///   - paused: paused accounts, with their next probe.
    mutating func shares(free: Int, due: [String: Int], running: [String: Int], paused: [String: AccountPause], now: Date) -> [String: Int] {
        var room: [String: Int] = [:]
        for (accountId, count) in due where count > 0 {
            let busy = running[accountId] ?? 0
            if let pause = paused[accountId] {
                room[accountId] = pause.nextProbeAt <= now && busy == 0 ? 1 : 0
            } else {
                room[accountId] = min(count, perAccount - busy)
            }
        }
        let accounts = room.filter { $0.value > 0 }.keys.sorted()
        guard free > 0, !accounts.isEmpty else { return [:] }
        var index = lastServed.flatMap { last in accounts.firstIndex { $0 > last } } ?? 0
        var shares: [String: Int] = [:]
        var left = free
        var passedOver = 0
        while left > 0, passedOver < accounts.count {
            let accountId = accounts[index % accounts.count]
            index += 1
            if shares[accountId, default: 0] < room[accountId, default: 0] {
                shares[accountId, default: 0] += 1
                left -= 1
                lastServed = accountId
                passedOver = 0
            } else {
                passedOver += 1
            }
        }
        return shares
    }
}
