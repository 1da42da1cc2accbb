import Foundation

/// nginx on a free loopback port in front of `upstreams` (round robin), as the README's example sets it up
/// for several gateways: request and answer bodies streamed, not buffered. Stopped by PID.
public final class Nginx: @unchecked Sendable {
    public let port = BackgroundProcess.freePort()
    public let directory = NSTemporaryDirectory() + "rg-nginx-\(UUID().uuidString)"
    private let server: BackgroundProcess

    public init(upstreams: [Int]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let servers = upstreams.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n")
        let configuration = """
            daemon off;
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/error.log;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(directory)/client_body;
                proxy_temp_path \(directory)/proxy;
                fastcgi_temp_path \(directory)/fastcgi;
                uwsgi_temp_path \(directory)/uwsgi;
                scgi_temp_path \(directory)/scgi;
                upstream gateways {
            \(servers)
                    keepalive 32;
                }
                server {
                    listen 127.0.0.1:\(port);
                    client_max_body_size 0;
                    location / {
                        proxy_pass http://gateways;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $http_host;
                        proxy_request_buffering off;
                        proxy_buffering off;
                        proxy_read_timeout 300s;
                        proxy_send_timeout 300s;
                    }
                }
            }
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: directory + "/nginx.conf"))
        server = try BackgroundProcess("nginx", ["-c", directory + "/nginx.conf", "-p", directory])
        guard BackgroundProcess.waitForPort(port) else { throw TestServerMissing(description: "nginx did not start: \(server.output)") }
    }

    deinit {
        _ = server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
