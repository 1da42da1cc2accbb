@_exported public import SigV4

/// Where an account's bucket lives, from what an operator types in the AWS Connector form:
/// a host such as `s3.us-west-1.amazonaws.com`, an optional region, a scheme and an addressing style.
public struct S3Endpoint: Sendable, Hashable {
    public enum Scheme: String, Sendable, Hashable, CaseIterable {
        case https
        case http
    }

    public enum AddressingStyle: String, Sendable, Hashable {
        /// `https://host/bucket/key`
        case path
        /// `https://bucket.host/key`
        case virtualHosted
    }

    /// The service host (lowercased, with `:port` when one was given), without a bucket label.
    public let host: String
    /// The signing region: as given, else read from the host, else `us-east-1`.
    public let region: String
    public let scheme: Scheme
    public let addressingStyle: AddressingStyle

    /// - Parameters:
    ///   - host: a host name, optionally with `:port`; no scheme, path or credentials.
    ///   - region: blank to read it from the host.
    ///   - bucket: when given and `host` starts with `bucket.`, that label is dropped (operators paste virtual-hosted names).
    public init(
        host rawHost: String,
        region: String? = nil,
        scheme: Scheme = .https,
        addressingStyle: AddressingStyle = .virtualHosted,
        bucket: String? = nil
    ) throws(S3EndpointError) {
        var host = rawHost.trimmingSpaces().lowercased()
        guard !host.isEmpty else { throw .invalidHost(rawHost, "it is empty") }
        if host.hasPrefix("https://") || host.hasPrefix("http://") {
            throw .invalidHost(rawHost, "give the host name alone, without http:// or https://")
        }
        if let bad = host.first(where: { "/?#@ \t\\".contains($0) }) {
            throw .invalidHost(rawHost, "a host name cannot contain '\(bad)' (no path, query or credentials)")
        }
        let (name, port) = Self.splitPort(host)
        guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }),
            !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..")
        else {
            throw .invalidHost(rawHost, "use letters, digits, '-' and '.', e.g. s3.us-west-1.amazonaws.com")
        }
        if let port, UInt16(port) == nil { throw .invalidHost(rawHost, "the port must be a number from 1 to 65535") }
        if let bucket, name.hasPrefix(bucket.lowercased() + "."), Self.region(fromHost: String(name.dropFirst(bucket.count + 1))) != nil {
            host = String(name.dropFirst(bucket.count + 1)) + (port.map { ":\($0)" } ?? "")
        }
        let given = region?.trimmingSpaces() ?? ""
        if !given.isEmpty {
            guard given.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
                throw .invalidRegion(given)
            }
        }
        self.host = host
        self.region = given.isEmpty ? (Self.region(fromHost: host) ?? "us-east-1") : given
        self.scheme = scheme
        self.addressingStyle = addressingStyle
    }

    /// The region a well-known S3 host name names, or nil when the host does not say.
    ///
    /// `s3.amazonaws.com` (us-east-1), `s3.REGION.amazonaws.com`, `s3-REGION.amazonaws.com`,
    /// `s3.dualstack.REGION.amazonaws.com`, any of those with a bucket label in front, the same under
    /// `amazonaws.com.cn`, `s3.REGION.wasabisys.com`, `s3.REGION.backblazeb2.com` and `REGION.digitaloceanspaces.com`.
    public static func region(fromHost host: String) -> String? {
        let labels = splitPort(host.lowercased()).name.split(separator: ".").map(String.init)
        func ends(with suffix: [String]) -> [String]? {
            guard labels.count > suffix.count, Array(labels.suffix(suffix.count)) == suffix else { return nil }
            return Array(labels.dropLast(suffix.count))
        }
        if let front = ends(with: ["amazonaws", "com"]) ?? ends(with: ["amazonaws", "com", "cn"]) {
            guard let index = front.lastIndex(where: { $0 == "s3" || $0.hasPrefix("s3-") }) else { return nil }
            let label = front[index]
            if label.hasPrefix("s3-") {
                let rest = String(label.dropFirst(3))
                return rest == "external-1" ? "us-east-1" : validRegion(rest)
            }
            var after = Array(front[(index + 1)...])
            if after.first == "dualstack" { after.removeFirst() }
            guard let region = after.first else { return "us-east-1" }
            return validRegion(region)
        }
        if let front = ends(with: ["wasabisys", "com"]) {
            guard let index = front.lastIndex(of: "s3") else { return nil }
            return index + 1 < front.count ? validRegion(front[index + 1]) : "us-east-1"
        }
        if let front = ends(with: ["backblazeb2", "com"]) {
            guard let index = front.lastIndex(of: "s3"), index + 1 < front.count else { return nil }
            return validRegion(front[index + 1])
        }
        if let front = ends(with: ["digitaloceanspaces", "com"]), let region = front.last {
            return validRegion(region)
        }
        return nil
    }

    /// The `Host` header and the (not encoded) path for an object, or for the bucket when `key` is nil.
    ///
    /// Buckets with dots are addressed path-style over TLS: `a.b.s3.amazonaws.com` does not match
    /// the wildcard certificate `*.s3.amazonaws.com`.
    public func location(bucket: String, key: String?) -> (host: String, path: String) {
        let keyPath = key.map { "/" + $0 } ?? "/"
        if usesVirtualHost(bucket: bucket) {
            return ("\(bucket).\(host)", keyPath)
        }
        return (host, "/\(bucket)" + (key.map { "/" + $0 } ?? ""))
    }

    func usesVirtualHost(bucket: String) -> Bool {
        addressingStyle == .virtualHosted && !(scheme == .https && bucket.contains("."))
    }

    private static func validRegion(_ label: String) -> String? {
        guard !label.isEmpty, label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return nil }
        return label
    }

    static func splitPort(_ host: String) -> (name: String, port: String?) {
        guard let colon = host.lastIndex(of: ":") else { return (host, nil) }
        return (String(host[..<colon]), String(host[host.index(after: colon)...]))
    }
}

/// An endpoint an operator typed that cannot work, said so that they can fix it.
public enum S3EndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidHost(String, String)
    case invalidRegion(String)

    public var description: String {
        switch self {
        case .invalidHost(let host, let why): "host \"\(host)\" is not valid: \(why)"
        case .invalidRegion(let region): "region \"\(region)\" is not valid: use a region code such as us-west-1"
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
