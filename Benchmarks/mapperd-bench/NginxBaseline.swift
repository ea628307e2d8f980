import Foundation
import MapperCore

/// nginx (when installed) answering a fixed health document on a free loopback port, one
/// worker process per core, for scale beside the HTTP benchmark.
struct NginxBaseline {
    let port: Int
    private let directory: URL
    private let pid: URL

    init(directory: URL) throws {
        guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: FileManager.default.isExecutableFile)
        else { throw MapperError(.ENOENT, "nginx is not installed") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        pid = directory.appendingPathComponent("nginx.pid")
        port = try Self.freePort()
        let config = directory.appendingPathComponent("nginx.conf")
        try """
        daemon on;
        worker_processes auto;
        pid \(pid.path);
        error_log \(directory.path)/error.log;
        events { worker_connections 1024; }
        http {
          access_log off;
          client_body_temp_path \(directory.path)/body;
          proxy_temp_path \(directory.path)/proxy;
          fastcgi_temp_path \(directory.path)/fastcgi;
          uwsgi_temp_path \(directory.path)/uwsgi;
          scgi_temp_path \(directory.path)/scgi;
          server {
            listen 127.0.0.1:\(port);
            location = /v1/health { default_type application/json; return 200 '{"status":"ok","version":"0.1.0"}'; }
          }
        }
        """.write(to: config, atomically: true, encoding: .utf8)
        let (status, _) = try Spawn.run(nginx, ["-c", config.path, "-p", directory.path])
        guard status == 0 else { throw MapperError(.EIO, "nginx did not start (exit \(status))") }
    }

    func stop() {
        guard let text = try? String(contentsOf: pid, encoding: .utf8),
            let number = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        kill(number, SIGTERM)
    }

    /// A port nobody listens on now (bound to port 0, then released).
    static func freePort() throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw MapperError(.EIO, "socket failed") }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(socketFD, pointer, length) == 0 else { return -1 }
                return getsockname(socketFD, pointer, &length)
            }
        }
        guard bound == 0 else { throw MapperError(.EIO, "bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
