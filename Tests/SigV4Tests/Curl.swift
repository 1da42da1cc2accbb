import Foundation

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["curl", "--silent", "--show-error", "--path-as-is", "--globoff", "--output", output.path, "--write-out", "%{http_code}"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let status = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let code = Int(String(decoding: status, as: UTF8.self)) else {
            throw CurlError(description: "curl exited \(process.terminationStatus)")
        }
        return Response(status: code, body: (try? Data(contentsOf: output)) ?? Data())
    }

    struct CurlError: Error, CustomStringConvertible {
        var description: String
    }
}
