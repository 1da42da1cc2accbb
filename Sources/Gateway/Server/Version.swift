/// The gateway's version, printed by `recording-gateway --version` and reported by status endpoints.
public enum GatewayVersion {
    public static let current = "0.1.0"
}
