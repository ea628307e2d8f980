import Foundation
import Testing

/// SEMANTICS §4 and §9 across a restart: a failed or interrupted suspend leaves multipath's
/// `queue_if_no_path` off, and a restart (kill -9 or SIGTERM) must not turn it back on.
@Suite("queue_if_no_path across a restart", .serialized, .timeLimit(.minutes(3)))
struct QueueIfNoPathRestartTests {
    enum Interruption: String, CaseIterable, Sendable { case failurePoint, timeout }
    enum Stop: String, CaseIterable, Sendable { case kill9, sigterm }

    static let table = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"
    static let block = Data(repeating: 0x3c, count: 4096)

    private func queueIfNoPath(_ server: ServerProcess) async throws -> Bool? {
        let status = try await server.call("GET", "/v1/devices/mp/status").json
        let target = (status["targets"] as? [[String: Any]])?.first
        return (target?["multipath"] as? [String: Any])?["queueIfNoPath"] as? Bool
    }

    @Test(
        "a suspend that failed or was interrupted keeps queue_if_no_path off after a restart",
        arguments: Interruption.allCases, Stop.allCases)
    func staysOff(interruption: Interruption, stop: Stop) async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory, arguments: ["--enable-fault-injection", "--no-nbd"])
        try await server.start()
        try await server.call(
            "POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":1048576}"#)
        for name in ["p1", "p2"] {
            try await server.call("POST", "/v1/paths", json: #"{"name":"\#(name)","backend":"disk"}"#)
        }
        #expect(
            try await server.call("POST", "/v1/devices", json: #"{"name":"mp","table":{"text":"\#(Self.table)"}}"#)
                .status == 201)
        #expect(try await queueIfNoPath(server) == true)

        switch interruption {
        case .failurePoint:
            try await server.call(
                "POST", "/v1/debug/faults", json: #"{"point":"suspend.after-presuspend","error":"ENOMEM","count":1}"#)
            let failed = try await server.call("POST", "/v1/devices/mp/suspend", json: #"{"noflush":false}"#)
            #expect(failed.status == 500 && failed.code == "ENOMEM")
        case .timeout:
            // A write stalled on its path keeps the suspend waiting until its timeout.
            for name in ["p1", "p2"] {
                try await server.call("PUT", "/v1/paths/\(name)/fault", json: #"{"mode":"stall"}"#)
            }
            let write = try await server.call(
                "PUT", "/v1/devices/mp/data?offset=0", bytes: Self.block, headers: ["Prefer": "respond-async"])
            #expect(write.status == 202)
            let interrupted = try await server.call(
                "POST", "/v1/devices/mp/suspend", json: #"{"noflush":false,"timeoutMs":50}"#)
            #expect(interrupted.status == 409 && interrupted.code == "EINTR")
            for name in ["p1", "p2"] {
                try await server.call("PUT", "/v1/paths/\(name)/fault", json: #"{"mode":"none"}"#)
            }
            if let id = write.header("Bio-Id") { _ = try await server.waitForBio(id) }
        }
        #expect(try await server.call("GET", "/v1/devices/mp").json["state"] as? String == "active")
        #expect(try await queueIfNoPath(server) == false)

        switch stop {
        case .kill9: server.kill9()
        case .sigterm: #expect(server.terminate() == 0)
        }
        let restarted = ServerProcess(directory: directory, arguments: ["--enable-fault-injection", "--no-nbd"])
        try await restarted.start()
        defer { _ = restarted.terminate() }
        #expect(try await queueIfNoPath(restarted) == false, "\(interruption) then \(stop)")
        #expect(try await restarted.call("GET", "/v1/devices/mp").json["state"] as? String == "active")

        // With no path, a write fails with EIO, as it did before the restart.
        for name in ["p1", "p2"] { try await restarted.call("POST", "/v1/paths/\(name)/fail") }
        let write = try await restarted.call(
            "PUT", "/v1/devices/mp/data?offset=4096", bytes: Self.block, headers: ["Prefer": "respond-async"])
        #expect(write.status == 502 && write.code == "EIO", "\(write.status) \(String(decoding: write.body, as: UTF8.self))")

        // The message turns it back on, and that survives a restart too.
        try await restarted.call("POST", "/v1/devices/mp/message", json: #"{"message":"queue_if_no_path"}"#)
        #expect(try await queueIfNoPath(restarted) == true)
    }
}
