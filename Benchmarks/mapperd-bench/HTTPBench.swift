import Foundation
import Hummingbird
import Logging
import MapperCore
import MapperServer

/// `mapperd-bench http`: `GET /v1/health` and 4 KiB GET and PUT data through a linear device,
/// against a bare Hummingbird router (one route answering the same health document) in the
/// same process and configuration, with wrk (keep-alive) at 16 and 64 connections. The goal
/// is a ratio of at least 0.8. When nginx is installed, its figure for a fixed answer on the
/// same machine is printed beside it (for scale, not as the goal). Needs `wrk` on the PATH
/// (Debian package `wrk`).
struct HTTPBench {
    let options: BenchOptions

    func run() async throws {
        guard let wrk = Self.which("wrk") else {
            throw MapperError(.ENOENT, "wrk is not installed (apt-get install wrk)")
        }
        let directory = URL(fileURLWithPath: options.directories.first ?? NSTemporaryDirectory())
            .appendingPathComponent("mapperd-bench-http-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (runtime, server) = try await BenchServer.mapperd(in: directory)
        let base = server.base
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let bare = try await Self.bareServer(logger: logger)
        var nginx: NginxBaseline?
        do {
            nginx = try NginxBaseline(directory: directory.appendingPathComponent("nginx"))
        } catch {
            FileHandle.standardError.write(Data("mapperd-bench: no nginx figure: \(error)\n".utf8))
        }
        defer { nginx?.stop() }

        let script = directory.appendingPathComponent("put.lua")
        try """
        local body = string.rep("m", 4096)
        counter = 0
        request = function()
          counter = counter + 1
          local offset = (counter * 7919 % 16384) * 4096
          return wrk.format("PUT", "/v1/devices/lin/data?offset=" .. offset,
            {["Content-Type"] = "application/octet-stream"}, body)
        end
        """.write(to: script, atomically: true, encoding: .utf8)
        let seconds = max(2, Int(options.seconds * 8))
        for connections in [16, 64] {
            let arguments = ["-t2", "-c\(connections)", "-d\(seconds)s"]
            let baseline = try Self.wrk(wrk, arguments + ["\(bare.base)/v1/health"])
            let nginxRate = try nginx.map { try Self.wrk(wrk, arguments + ["http://127.0.0.1:\($0.port)/v1/health"]) }
            let health = try Self.wrk(wrk, arguments + ["\(base)/v1/health"])
            let get = try Self.wrk(wrk, arguments + ["\(base)/v1/devices/lin/data?offset=40960&length=4096"])
            let put = try Self.wrk(wrk, arguments + ["-s", script.path, base])
            for (name, rate) in [("health", health), ("data.get.4k", get), ("data.put.4k", put)] {
                var fields: [(String, Any)] = [
                    ("bench", "http.\(name).c\(connections)"), ("requestsPerSec", Int(rate)),
                    ("baselineRequestsPerSec", Int(baseline)), ("baseline", "bare Hummingbird GET /v1/health"),
                    ("ratio", rate / baseline),
                ]
                if let nginxRate { fields.append(("nginxRequestsPerSec", Int(nginxRate))) }
                BenchReport.emit(fields)
            }
        }
        await bare.stop()
        await server.stop()
        await runtime.close()
    }

    /// A bare Hummingbird application: one route, no middleware, the same server
    /// configuration as mapperd's; answers the health document mapperd answers.
    static func bareServer(logger: Logger) async throws -> BenchServer {
        let router = Router()
        router.get("/v1/health") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok","version":"0.1.0"}"#)))
        }
        return try await BenchServer.start(router, logger: logger)
    }

    /// Runs wrk and returns its Requests/sec (non-2xx responses make the run fail).
    static func wrk(_ path: String, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if output.contains("Non-2xx") { throw MapperError(.EIO, "wrk saw errors:\n\(output)") }
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
            let value = Double(line.split(separator: " ").last ?? "")
        else { throw MapperError(.EIO, "cannot read wrk output:\n\(output)") }
        return value
    }

    static func which(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return paths.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
