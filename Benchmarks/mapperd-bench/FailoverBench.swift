import Foundation
import MapperCore
import MapperTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `mapperd-bench failover`: two real `mapperd` processes (the binary built next to this one)
/// sharing a throw-away PostgreSQL, their storage an `nbdkit` export; the owner of a linear
/// device is killed with SIGKILL and the time until the other host answers the first I/O on
/// the device is measured, against the issue's budget of 5 s with `--lease-ms 3000`: once with
/// an operator's claim (`POST /v1/devices/lin/claim` every 20 ms until it succeeds), once
/// with `--takeover auto`.
struct FailoverBench {
    let options: BenchOptions
    static let lease = 3000

    func run() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("mapperd").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw MapperBenchError("failover needs mapperd next to mapperd-bench: swift build -c release")
        }
        guard NBDKit.isAvailable, PostgresTestServer.available else {
            throw MapperBenchError("failover needs nbdkit and PostgreSQL")
        }
        PostgresTestServer.durableCommits = true
        for automatic in [false, true] {
            let name = "failover.\(automatic ? "auto" : "claim").lease\(Self.lease)"
            guard options.filter.map({ name.contains($0) }) ?? true else { continue }
            let seconds = try await once(binary: binary, automatic: automatic)
            BenchReport.emit([
                ("bench", name), ("seconds", seconds), ("budgetSeconds", 5.0), ("ratio", seconds / 5.0),
                ("leaseMs", Self.lease),
            ])
        }
    }

    /// One failover; returns the seconds from the owner's SIGKILL to the first answered I/O.
    private func once(binary: String, automatic: Bool) async throws -> Double {
        let store = try await PostgresTestServer.database()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("mapperd-bench-failover-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let nbdkit = NBDKit(["memory", "64M"])
        try nbdkit.start()
        let (portA, portB) = (try Self.freePort(), try Self.freePort())
        let a = try Self.host(binary, "a", port: portA, store: store, root: root, automatic: false)
        let b = try Self.host(binary, "b", port: portB, store: store, root: root, automatic: automatic)
        defer {
            kill(b, SIGKILL)
            _ = Spawn.reap(b)
        }
        let hostA = "http://127.0.0.1:\(portA)"
        let hostB = "http://127.0.0.1:\(portB)"
        try await Self.waitUntilUp(hostA)
        try await Self.waitUntilUp(hostB)
        _ = try await Self.call("POST", hostA + "/v1/backends", json: #"{"name":"lun","uri":"\#(nbdkit.uri)"}"#)
        _ = try await Self.call(
            "POST", hostA + "/v1/devices", json: #"{"name":"lin","table":{"text":"0 131072 linear lun 0"}}"#)
        let block = Data(repeating: 7, count: 4096)
        guard try await Self.call("PUT", hostA + "/v1/devices/lin/data?offset=0", body: block) == 204 else {
            throw MapperBenchError("the first write on the owner failed")
        }
        // Some renewals, so the kill lands anywhere in the renewal cycle.
        try await Task.sleep(for: .milliseconds(Self.lease / 2 + Int.random(in: 0..<(Self.lease / 3))))
        let killed = ContinuousClock.now
        kill(a, SIGKILL)
        _ = Spawn.reap(a)
        while true {
            if !automatic { _ = try? await Self.call("POST", hostB + "/v1/devices/lin/claim") }
            if (try? await Self.call("GET", hostB + "/v1/devices/lin/data?offset=0&length=4096")) == 200 { break }
            guard ContinuousClock.now < killed + .seconds(60) else {
                throw MapperBenchError("the device never came back on the other host")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - killed
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    private static func host(
        _ binary: String, _ id: String, port: Int, store: String, root: URL, automatic: Bool
    ) throws -> pid_t {
        try Spawn.start(
            binary,
            [
                "serve", "--data-dir", root.appendingPathComponent(id).path, "--port", "\(port)", "--no-nbd",
                "--store", store, "--host-id", id, "--lease-ms", "\(lease)", "--takeover",
                automatic ? "auto" : "manual",
                "--log-level", "error",
            ])
    }

    /// A loopback port free right now.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw MapperBenchError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func waitUntilUp(_ base: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? await call("GET", base + "/v1/health")) != 200 {
            guard ContinuousClock.now < deadline else { throw MapperBenchError("\(base) did not start") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One request; returns the status.
    @discardableResult
    private static func call(_ method: String, _ url: String, json: String? = nil, body: Data? = nil) async throws
        -> Int
    {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        } else if let body {
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
            request.httpBody = body
        }
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }
}
