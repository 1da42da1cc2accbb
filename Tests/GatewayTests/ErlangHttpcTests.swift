import Foundation
import Gateway
import TestSupport
import Testing

/// The round trip driven by Erlang/OTP's httpc, the HTTP client KAZOO uses (KAZOO.md): PUT the
/// recording, GET it back following the redirect to the presigned URL, and GET it with `user:pass@`
/// in the URL (httpc sends that as Basic and would forward it to S3): the bytes must still arrive.
struct ErlangHttpcTests {
    @Test func kazooHttpcStoresAndFetchesThroughTheGateway() async throws {
        let directory = NSTemporaryDirectory() + "rg-erlang-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let recording = TestEnvironment.randomBytes(6 * 1024 * 1024 + 100, seed: 12)
        let file = directory + "/recording.mp3"
        try Data(recording).write(to: URL(fileURLWithPath: file))

        let output = try await TestGateway.with { gateway in
            let account = TestEnvironment.accountId()
            let token = try await gateway.addRcloneAccount(account)
            let path = "\(account)/4a9b2c3d4e5f60718293a4b5c6d7e8f9/202611-\(TestEnvironment.accountId())/\(TestEnvironment.accountId()).mp3"
            let put = "http://127.0.0.1:\(gateway.port)/k/\(token)/\(path)"
            let get = "\(put)/\(path)?call_id=abc&media_type=mp3"
            let withUser = "http://user:pass@127.0.0.1:\(gateway.port)/k/\(token)/\(path)/\(path)?call_id=abc"
            let program = """
                inets:start(),
                {ok, Body} = file:read_file("\(file)"),
                {ok, {{_, PutStatus, _}, _, _}} = httpc:request(put, {"\(put)", [], "audio/mpeg", Body}, [], []),
                {ok, {{_, GetStatus, _}, _, GetBody}} = httpc:request(get, {"\(get)", []}, [], [{body_format, binary}]),
                {ok, {{_, AuthStatus, _}, _, AuthBody}} = httpc:request(get, {"\(withUser)", []}, [], [{body_format, binary}]),
                io:format("put=~p get=~p same=~p auth=~p auth_same=~p~n", [PutStatus, GetStatus, GetBody =:= Body, AuthStatus, AuthBody =:= Body]),
                halt().
                """
            return try await onOwnThread {
                let run = try ChildProcess.run("erl", ["-noshell", "-eval", program])
                return run.output + run.error
            }
        }
        #expect(output.contains("put=201 get=200 same=true auth=200 auth_same=true"), "\(output)")
    }
}
