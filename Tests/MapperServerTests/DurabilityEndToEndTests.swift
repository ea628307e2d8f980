import Foundation
import Testing

/// The durability contract and bio history over the real binary, across `kill -9` and
/// restarts.
@Suite("durability end to end", .serialized, .timeLimit(.minutes(3)))
struct DurabilityEndToEndTests {
    static let block = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
    static let mp = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1"

    private func expectStatus(_ reply: ServerProcess.Reply, _ status: Int, _ what: String) {
        #expect(reply.status == status, "\(what): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
    }

    private func write(
        _ server: ServerProcess, _ device: String, offset: Int, key: String
    ) async throws -> ServerProcess.Reply {
        try await server.call(
            "PUT", "/v1/devices/\(device)/data?offset=\(offset)", bytes: Self.block,
            headers: ["Prefer": "respond-async", "Idempotency-Key": key])
    }

    @Test("kill -9 between a 202 and its commit: the bio was reported inflight, not durable, and a retry lands")
    func killBetweenAcceptAndCommit() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory, arguments: ["--enable-fault-injection"])
        try await server.start()
        expectStatus(
            try await server.call(
                "POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":1048576}"#), 201,
            "backend")
        expectStatus(
            try await server.call("POST", "/v1/devices", json: #"{"name":"lin","table":{"text":"0 2048 linear disk 0"}}"#),
            201, "device")
        expectStatus(try await server.call("POST", "/v1/devices/lin/suspend"), 200, "suspend")

        // Committed: deferred and durable.
        let kept = try await write(server, "lin", offset: 0, key: "kept")
        expectStatus(kept, 202, "write before the hold")
        let keptState = try await server.waitUntilDurable(try #require(kept.header("Bio-Id")))
        #expect(keptState["state"] as? String == "deferred" && keptState["durable"] as? Bool == true)
        // Not committed: the 202 must not claim a queue.
        expectStatus(
            try await server.call("PUT", "/v1/debug/store", json: #"{"commitsHeld":true}"#), 200, "hold commits")
        let lost = try await write(server, "lin", offset: 4096, key: "lost")
        expectStatus(lost, 202, "write while commits are held")
        #expect(lost.json["state"] as? String == "inflight", "\(lost.json)")
        #expect(lost.json["durable"] as? Bool == false)
        let keptID = try #require(kept.header("Bio-Id"))
        let lostID = try #require(lost.header("Bio-Id"))
        server.kill9()

        let restarted = ServerProcess(directory: directory, arguments: ["--enable-fault-injection"])
        try await restarted.start()
        defer { _ = restarted.terminate() }
        // The documented outcome: the durable one is still deferred, the inflight one is gone.
        let keptAfter = try await restarted.call("GET", "/v1/bios/\(keptID)").json
        #expect(keptAfter["state"] as? String == "deferred" && keptAfter["durable"] as? Bool == true, "\(keptAfter)")
        #expect(try await restarted.call("GET", "/v1/bios/\(lostID)").status == 404)
        let io = try await restarted.call("GET", "/v1/devices/lin").json["io"] as? [String: Int]
        #expect(io?["deferred"] == 1)
        // The client retries with the same key, as the contract tells it to: a new bio.
        let retried = try await write(restarted, "lin", offset: 4096, key: "lost")
        expectStatus(retried, 202, "retry")
        let retriedState = try await restarted.waitUntilDurable(try #require(retried.header("Bio-Id")))
        #expect(retriedState["state"] as? String == "deferred" && retriedState["durable"] as? Bool == true)
        #expect(retried.header("Bio-Id") != lostID)
        expectStatus(try await restarted.call("POST", "/v1/devices/lin/resume"), 200, "resume")
        for id in [keptID, try #require(retried.header("Bio-Id"))] {
            #expect(try await restarted.waitForBio(id)["state"] as? String == "completed")
        }
        let data = try await restarted.call("GET", "/v1/devices/lin/data?offset=0&length=8192")
        #expect(data.body == Self.block + Self.block)
    }

    @Test("bio history keeps its device: remove with force, restart, create again, rename, list")
    func historyKeepsItsDevice() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory)
        try await server.start()
        expectStatus(
            try await server.call(
                "POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":1048576}"#), 201,
            "backend")
        expectStatus(try await server.call("POST", "/v1/paths", json: #"{"name":"p1","backend":"disk"}"#), 201, "path")
        let create = #"{"name":"mp0","table":{"text":"\#(Self.mp)"}}"#
        expectStatus(try await server.call("POST", "/v1/devices", json: create), 201, "mp0")
        expectStatus(try await server.call("POST", "/v1/paths/p1/fail"), 200, "fail p1")
        var old: [String] = []
        for index in 0..<3 {
            let queued = try await write(server, "mp0", offset: index * 4096, key: "k\(index)")
            expectStatus(queued, 202, "queued write")
            let id = try #require(queued.header("Bio-Id"))
            #expect(try await server.waitUntilDurable(id)["state"] as? String == "queued")
            old.append(id)
        }
        expectStatus(try await server.call("DELETE", "/v1/devices/mp0?force=true"), 204, "remove with force")
        for id in old {
            let ended = try await server.waitForBio(id)
            #expect(ended["state"] as? String == "failed" && ended["error"] as? String == "EIO")
        }
        #expect(server.terminate() == 0)

        let restarted = ServerProcess(directory: directory)
        try await restarted.start()
        defer { _ = restarted.terminate() }
        expectStatus(try await restarted.call("POST", "/v1/paths/p1/reinstate"), 200, "reinstate p1")
        expectStatus(try await restarted.call("POST", "/v1/devices", json: create), 201, "mp0 again")
        // A key of the removed device does not answer for the new one: this is a new write.
        let fresh = try await restarted.call(
            "PUT", "/v1/devices/mp0/data?offset=0", bytes: Self.block, headers: ["Idempotency-Key": "k0"])
        expectStatus(fresh, 204, "write with a key the removed device used")
        #expect(fresh.header("Bio-Id").map(old.contains) == false)
        expectStatus(
            try await restarted.call("POST", "/v1/devices/mp0/rename", json: #"{"newName":"mp0-r"}"#), 200, "rename")

        let listed = try await restarted.call("GET", "/v1/bios").json["bios"] as? [[String: Any]] ?? []
        let devices = Dictionary(
            listed.map { ($0["id"] as? String ?? "", $0["device"] as? String ?? "") }, uniquingKeysWith: { $1 })
        for id in old { #expect(devices[id] == "mp0", "bio \(id) is listed under \(devices[id] ?? "nothing")") }
        let renamed = try await restarted.call("GET", "/v1/bios?device=mp0-r").json["bios"] as? [[String: Any]] ?? []
        #expect(renamed.compactMap { $0["id"] as? String }.allSatisfy { !old.contains($0) })
        for id in old { #expect(try await restarted.call("GET", "/v1/bios/\(id)").json["device"] as? String == "mp0") }
    }
}
