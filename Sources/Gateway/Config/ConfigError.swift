/// An error said so that an operator can fix it: the command line prints its description as it is.
public protocol OperatorFacingError: Error, CustomStringConvertible {}

/// A configuration problem, said so that an operator can fix it.
public struct ConfigError: OperatorFacingError, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
