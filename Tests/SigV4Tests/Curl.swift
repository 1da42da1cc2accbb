import Foundation
import TestSupport

/// Runs curl exactly as given: `--path-as-is` and `--globoff` keep every byte of a signed URL as signed.
enum Curl {
    struct Response {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func run(_ arguments: [String]) throws -> Response {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try ChildProcess.run(
            "curl",
            ["--silent", "--show-error", "--path-as-is", "--globoff", "--output", output.path, "--write-out", "%{http_code}"] + arguments
        )
        guard run.status == 0, let code = Int(run.output) else {
            throw CurlError(description: "curl exited \(run.status)")
        }
        return Response(status: code, body: (try? Data(contentsOf: output)) ?? Data())
    }

    struct CurlError: Error, CustomStringConvertible {
        var description: String
    }
}
