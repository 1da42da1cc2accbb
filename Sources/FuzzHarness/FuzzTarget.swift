/// The parsers that read bytes from outside the gateway, each as a fuzz target: the input is any bytes,
/// the target feeds them to the parser as the gateway does and checks what must hold whatever the input.
/// A broken property stops the process (`FuzzFailure`), which libFuzzer reports with the input.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A KAZOO store body: the first line is the request's Content-Type, the rest its body, fed in pieces.
    case multipart
    /// KAZOO's base64 file part, decoded in pieces.
    case base64
    /// A request path after the token, made into an object key.
    case objectKey = "object-key"
    /// An answer from an S3-compatible store: error documents and the results the gateway reads.
    case s3XML = "s3-xml"
    /// The body of an admin API call that creates or changes an account, or retries the queue.
    case adminJSON = "admin-json"
    /// The configuration file.
    case config

    /// Runs one input; a broken property stops the process (the fuzzer saves the input). Called from libFuzzer's
    /// thread, never from a task: the multipart target waits for its body to be read.
    public func run(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        let failure: FuzzFailure?
        if self == .multipart {
            failure = runBlocking {
                do throws(FuzzFailure) {
                    try await MultipartFuzz.run(bytes)
                    return nil
                } catch {
                    return error
                }
            }
        } else {
            do {
                try checkSynchronously(bytes)
                failure = nil
            } catch {
                failure = error
            }
        }
        if let failure { preconditionFailure("fuzz property broken (\(rawValue)): \(failure.message)") }
    }

    /// Runs one input; throws the first property it breaks.
    public func check(_ bytes: [UInt8]) async throws(FuzzFailure) {
        if self == .multipart {
            try await MultipartFuzz.run(bytes)
        } else {
            try checkSynchronously(bytes)
        }
    }

    func checkSynchronously(_ bytes: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .multipart: preconditionFailure("the multipart target reads its body asynchronously")
        case .base64: try Base64Fuzz.run(bytes)
        case .objectKey: try ObjectKeyFuzz.run(bytes)
        case .s3XML: try S3AnswerFuzz.run(bytes)
        case .adminJSON: try AdminJSONFuzz.run(bytes)
        case .config: try ConfigFuzz.run(bytes)
        }
    }
}

/// A property every input must keep, broken.
public struct FuzzFailure: Error, Sendable {
    public let message: String
}

func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) throws(FuzzFailure) {
    guard condition() else { throw FuzzFailure(message: message()) }
}

#if canImport(Glibc)
import Glibc
#endif

extension FuzzTarget {
    /// The target RG_FUZZ_TARGET names; the process stops with the list when it names none.
    public static let selected: FuzzTarget = {
        let name = getenv("RG_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            print("RG_FUZZ_TARGET must be one of: \(allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        return target
    }()
}
