public import Foundation
import NIOCore
public import S3

/// `verify`: with an account's stored credentials, checks in order what a recording's way into its
/// bucket needs — one line each, PASS, FAIL or WARN, with what to do — and that the credentials are no
/// broader than needed (a probe DeleteObject should be denied).
public struct ConnectionCheck: Sendable {
    public enum Status: String, Sendable, Codable {
        case pass = "PASS"
        case fail = "FAIL"
        case warn = "WARN"
        case skip = "SKIP"
    }

    public struct Line: Sendable, Hashable, Codable {
        public var status: Status
        public var check: String
        public var message: String
        public var text: String { "\(status.rawValue)  \(check): \(message)" }
    }

    /// Where probe objects go (at the bucket's root, whatever the account's key prefix).
    public static let probePrefix = "rg-verify/"

    /// S3 refuses requests signed more than 15 minutes off its clock.
    public static let maximumSkew: TimeInterval = 15 * 60

    let client: S3Client
    let region: String
    let keyPrefix: String
    let now: @Sendable () -> Date

    public init(client: S3Client, region: String, keyPrefix: String, now: @escaping @Sendable () -> Date = Date.init) {
        self.client = client
        self.region = region
        self.keyPrefix = keyPrefix
        self.now = now
    }

    /// Whether nothing failed.
    public static func passed(_ lines: [Line]) -> Bool { !lines.contains { $0.status == .fail } }

    /// The lines written so far.
    private struct Report {
        var lines: [Line] = []
        mutating func add(_ status: Status, _ check: String, _ message: String) {
            lines.append(Line(status: status, check: check, message: message))
        }
        mutating func skip(_ checks: [String], because reason: String) {
            for check in checks { add(.skip, check, "not checked: \(reason)") }
        }
    }

    public func run() async -> [Line] {
        var report = Report()
        guard await checkBucket(&report) else { return report.lines }
        await checkProbeObject(&report)
        return report.lines
    }

    /// 1. The endpoint answers (DNS, TCP, TLS), and 2. 3. the clock and the region, from one bucket probe.
    /// False when the endpoint did not answer (the rest is skipped).
    private func checkBucket(_ report: inout Report) async -> Bool {
        func regionMismatch(_ actual: String) {
            report.add(
                .fail,
                "region",
                "the bucket is in \(actual), the account says \(region): set --region \(actual) and --host s3.\(actual).amazonaws.com"
            )
        }
        var info: BucketInfo?
        do {
            info = try await client.probeBucket()
            report.add(.pass, "endpoint", "the S3 endpoint answered")
        } catch {
            if error.kind == .transport {
                report.add(
                    .fail,
                    "endpoint",
                    "\(error); check the host name (e.g. s3.us-west-1.amazonaws.com), the scheme and this machine's network"
                )
                report.skip(["clock", "region", "put", "get", "list", "delete"], because: "the endpoint did not answer")
                return false
            }
            report.add(.pass, "endpoint", "the S3 endpoint answered (HTTP \(error.status))")
            if error.isRegionMismatch, let actual = error.bucketRegion, actual != region {
                regionMismatch(actual)
            } else {
                report.add(.fail, "bucket", "\(error)")
            }
        }
        if let serverDate = info?.serverDate {
            let skew = now().timeIntervalSince(serverDate)
            if abs(skew) > Self.maximumSkew {
                report.add(
                    .fail,
                    "clock",
                    "this machine's clock is \(Int(skew)) s off S3's (more than 15 minutes): run NTP (chrony or systemd-timesyncd)"
                )
            } else {
                report.add(.pass, "clock", "within \(Int(abs(skew).rounded(.up))) s of S3's")
            }
        } else if info != nil {
            report.add(.warn, "clock", "S3 sent no Date header, so the clock could not be compared")
        }
        if let info {
            if let actual = info.region, actual != region {
                regionMismatch(actual)
            } else {
                report.add(
                    .pass,
                    "region",
                    info.region.map { "the bucket is in \($0), as configured" } ?? "requests signed for \(region) are accepted"
                )
            }
        }
        return true
    }

    /// 4.-7. A probe object of its own (checks may run at once): written, read back, listed, and a delete
    /// that should be refused. Least privilege cannot delete it; the lifecycle rule `policy` prints expires
    /// `rg-verify/` after a day.
    private func checkProbeObject(_ report: inout Report) async {
        let probe = Self.probePrefix + UUID().uuidString.lowercased() + ".txt"
        let content = ByteBuffer(string: "recording-gateway connection check \(now()) \(UUID().uuidString)\n")
        do {
            _ = try await client.putObject(key: probe, body: content)
            report.add(.pass, "put", "PutObject of \(probe) succeeded")
        } catch {
            report.add(.fail, "put", "\(error)")
            report.skip(["get", "list", "delete"], because: "the probe object could not be written")
            return
        }
        do {
            guard let object = try await client.getObject(key: probe) else {
                throw S3Error(status: 404, code: "NoSuchKey", message: "", operation: "GetObject")
            }
            var bytes = ByteBuffer()
            for try await var chunk in object.body { bytes.writeBuffer(&chunk) }
            if bytes == content {
                report.add(.pass, "get", "GetObject returned the probe byte for byte")
            } else {
                report.add(.fail, "get", "GetObject returned \(bytes.readableBytes) bytes that differ from the \(content.readableBytes) written")
            }
        } catch {
            report.add(.fail, "get", "\(error)")
        }
        do {
            let listed = try await client.listObjects(prefix: probe, maxKeys: 10)
            if listed.objects.contains(where: { $0.key == probe }) {
                report.add(.pass, "list", "ListObjectsV2 sees the probe")
            } else {
                report.add(.fail, "list", "ListObjectsV2 does not list the probe it just wrote")
            }
        } catch {
            report.add(.fail, "list", "\(error)")
        }
        do {
            try await client.deleteObject(key: probe)
            report.add(
                .warn,
                "delete",
                "DeleteObject succeeded: these credentials can delete recordings, broader than needed; allow only s3:PutObject, s3:GetObject and s3:ListBucket (`recording-gateway policy`)"
            )
        } catch {
            if error.code == "AccessDenied" {
                report.add(
                    .pass,
                    "delete",
                    "DeleteObject was denied, as it should be (the probe stays until the bucket's lifecycle rule expires \(Self.probePrefix))"
                )
            } else {
                report.add(.warn, "delete", "DeleteObject failed with \(error.code), not AccessDenied: \(error)")
            }
        }
    }
}

extension ConnectionCheck {
    /// The check of one account with its stored credentials; nil for an unknown account.
    static func forAccount(_ accountId: String, in directory: AccountDirectory) throws -> ConnectionCheck? {
        guard let entry = directory.entry(forAccountId: accountId) else { return nil }
        return ConnectionCheck(client: entry.client, region: try entry.account.endpoint().region, keyPrefix: entry.account.keyPrefix)
    }
}
