import Foundation
import Hummingbird
import Logging
import MapperCore
import MapperServer

/// `mapperd-bench http`: 4 KiB GET and PUT data through a linear device against
/// `GET /v1/health` of the same server in the same run, with wrk (keep-alive) at 16 and 64
/// connections. Needs `wrk` on the PATH (Debian package `wrk`).
struct HTTPBench {
    let options: BenchOptions

    func run() async throws {
        guard let wrk = Self.which("wrk") else {
            throw MapperError(.ENOENT, "wrk is not installed (apt-get install wrk)")
        }
        let directory = URL(fileURLWithPath: options.directories.first ?? NSTemporaryDirectory())
            .appendingPathComponent("mapperd-bench-http-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let runtime = try await MapperRuntime(
            configuration: ServerConfiguration(port: 0, dataDirectory: directory.appendingPathComponent("data")),
            logger: logger)
        let ports = AsyncStream<Int>.makeStream()
        let app = Application(
            router: try MapperServer.router(runtime: runtime),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "mapperd"),
            onServerRunning: { channel in
                ports.continuation.yield(channel.localAddress?.port ?? 0)
                ports.continuation.finish()
            },
            logger: logger)
        let server = Task { try await app.run() }
        var iterator = ports.stream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw MapperError(.EIO, "server did not start") }
        let base = "http://127.0.0.1:\(port)"

        try await runtime.manager.createBackend(
            name: "disk", file: "disk.img", url: directory.appendingPathComponent("data/disk.img"), sizeBytes: 64 << 20)
        try await runtime.manager.createDevice(name: "lin", table: TableParser.parse("0 131072 linear disk 0"))
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
            let health = try Self.wrk(wrk, ["-t2", "-c\(connections)", "-d\(seconds)s", "\(base)/v1/health"])
            let get = try Self.wrk(
                wrk,
                ["-t2", "-c\(connections)", "-d\(seconds)s", "\(base)/v1/devices/lin/data?offset=40960&length=4096"])
            let put = try Self.wrk(wrk, ["-t2", "-c\(connections)", "-d\(seconds)s", "-s", script.path, base])
            for (name, rate) in [("get", get), ("put", put)] {
                BenchReport.emit([
                    ("bench", "http.data.\(name).4k.c\(connections)"), ("requestsPerSec", Int(rate)),
                    ("baselineRequestsPerSec", Int(health)), ("baseline", "GET /v1/health"), ("ratio", rate / health),
                ])
            }
        }
        server.cancel()
        _ = try? await server.value
        await runtime.close()
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
