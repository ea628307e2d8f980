import Foundation
import Hummingbird
import Logging
import MapperCore
import MapperServer

/// `mapperd-bench memory`: the server's resident memory before and after about 10,000
/// requests of 1 MiB (half writes, half reads, wrk with 4 connections, for as long as the
/// warm-up's rate says 10,000 take) on a linear device, measured on this process, which hosts
/// the server. The baseline is the resident size after a 3 s warm-up; the budget for the
/// growth is 64 MiB. Needs `wrk`.
struct MemoryBench {
    let options: BenchOptions

    func run() async throws {
        guard let wrk = HTTPBench.which("wrk") else {
            throw MapperError(.ENOENT, "wrk is not installed (apt-get install wrk)")
        }
        let directory = URL(fileURLWithPath: options.directories.first ?? NSTemporaryDirectory())
            .appendingPathComponent("mapperd-bench-memory-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (runtime, server) = try await BenchServer.mapperd(in: directory)
        let script = try Self.script(directory)
        let base = server.base
        // Warm-up (and the rate that sizes the measured run to about 10,000 requests).
        let rate = try HTTPBench.wrk(wrk, ["-t2", "-c4", "-d3s", "-s", script.path, base])
        let before = Self.residentBytes()
        let seconds = max(5, Int((10_000 / max(rate, 1)).rounded(.up)) + 1)
        let measuredRate = try HTTPBench.wrk(wrk, ["-t2", "-c4", "-d\(seconds)s", "-s", script.path, base])
        let requests = Int(measuredRate * Double(seconds))
        let after = Self.residentBytes()
        let growth = Double(after - before) / Double(1 << 20)
        BenchReport.emit([
            ("bench", "memory.http.1m.10000"), ("rssBeforeMiB", Double(before) / Double(1 << 20)),
            ("rssAfterMiB", Double(after) / Double(1 << 20)), ("growthMiB", growth), ("budgetMiB", 64),
            ("ratio", growth / 64), ("requests", requests), ("seconds", seconds),
            ("registeredBios", runtime.bioRegistryCount),
        ])
        await server.stop()
        await runtime.close()
    }

    /// A wrk script alternating 1 MiB PUT and GET at offsets spread over the device.
    static func script(_ directory: URL) throws -> URL {
        let url = directory.appendingPathComponent("mixed.lua")
        try """
        local body = string.rep("m", 1048576)
        local counter = 0
        request = function()
          counter = counter + 1
          local offset = (counter * 7 % 60) * 1048576
          if counter % 2 == 0 then
            return wrk.format("GET", "/v1/devices/lin/data?offset=" .. offset .. "&length=1048576")
          end
          return wrk.format("PUT", "/v1/devices/lin/data?offset=" .. offset,
            {["Content-Type"] = "application/octet-stream"}, body)
        end
        """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// This process's resident set size (VmRSS), in bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib << 10
    }
}
