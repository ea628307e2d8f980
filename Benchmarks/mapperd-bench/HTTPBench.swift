import Foundation
import Hummingbird
import Logging
import MapperCore
import MapperServer

/// `mapperd-bench http`: `GET /v1/health` and 4 KiB GET and PUT data through a linear device,
/// against a bare Hummingbird router in the same process and configuration, with wrk
/// (keep-alive) at 16 and 64 connections. The bare router has the same three routes with
/// nothing behind them but the work itself: the health document, and `pread`/`pwrite` of the
/// same 4 KiB on the same backing file (the body collected the way Hummingbird's own
/// `collect(upTo:)` does), in three interleaved rounds whose best figures are kept. Each case's
/// `ratio` is against its bare twin, the goal being at
/// least 0.8; `ratioToBareHealth` compares every case with the bare health route. When nginx
/// is installed, its figure for a fixed answer on the same machine is printed beside it (for
/// scale, not as the goal). Needs `wrk` on the PATH (Debian package `wrk`).
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
        let bare = try await Self.bareServer(file: directory.appendingPathComponent("data/disk.img"), logger: logger)
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
        let seconds = max(2, Int(options.seconds * 4))
        let cases: [(name: String, baseline: String, target: (String) -> [String])] = [
            ("health", "bare Hummingbird GET /v1/health", { ["\($0)/v1/health"] }),
            ("data.get.4k", "bare Hummingbird pread 4 KiB", { ["\($0)/v1/devices/lin/data?offset=40960&length=4096"] }),
            ("data.put.4k", "bare Hummingbird pwrite 4 KiB", { ["-s", script.path, $0] }),
        ]
        for connections in [16, 64] {
            let arguments = ["-t2", "-c\(connections)", "-d\(seconds)s"]
            let nginxRate = try nginx.map { try Self.wrk(wrk, arguments + ["http://127.0.0.1:\($0.port)/v1/health"]) }
            var bareHealth = 1.0
            for item in cases {
                // Bare twin and mapperd back to back, three rounds interleaved, the best of each
                // kept (as the other suites do), so both see the same machine noise.
                var baseline = 0.0
                var rate = 0.0
                for _ in 0..<3 {
                    baseline = max(baseline, try Self.wrk(wrk, arguments + item.target(bare.base)))
                    rate = max(rate, try Self.wrk(wrk, arguments + item.target(base)))
                }
                if item.name == "health" { bareHealth = baseline }
                var fields: [(String, Any)] = [
                    ("bench", "http.\(item.name).c\(connections)"), ("requestsPerSec", Int(rate)),
                    ("baselineRequestsPerSec", Int(baseline)), ("baseline", item.baseline),
                    ("ratio", rate / baseline), ("ratioToBareHealth", rate / bareHealth),
                ]
                if let nginxRate { fields.append(("nginxRequestsPerSec", Int(nginxRate))) }
                BenchReport.emit(fields)
            }
        }
        await bare.stop()
        await server.stop()
        await runtime.close()
    }

    /// A bare Hummingbird application, no middleware, the same server configuration as
    /// mapperd's: the health document mapperd answers, and data routes that `pread`/`pwrite`
    /// `file` directly (no engine, no checks beyond parsing the offset).
    static func bareServer(file: URL, logger: Logger) async throws -> BenchServer {
        let fd = open(file.path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw MapperError(Errno.current, "cannot open \(file.path)") }
        let router = Router()
        router.get("/v1/health") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok","version":"0.1.0"}"#)))
        }
        router.get("/v1/devices/:name/data") { request, _ in
            let offset = Int(request.uri.queryParameters["offset"] ?? "0") ?? 0
            let length = Int(request.uri.queryParameters["length"] ?? "512") ?? 512
            var buffer = ByteBuffer()
            let read = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) {
                max(0, pread(fd, $0.baseAddress, length, off_t(offset)))
            }
            guard read == length else { throw HTTPError(.internalServerError) }
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: buffer))
        }
        router.put("/v1/devices/:name/data") { request, _ in
            let offset = Int(request.uri.queryParameters["offset"] ?? "0") ?? 0
            let body = try await request.body.collect(upTo: 8 << 20)
            let written = body.withUnsafeReadableBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
            guard written == body.readableBytes else { throw HTTPError(.internalServerError) }
            return Response(status: .noContent)
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
