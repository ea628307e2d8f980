import Foundation
import MapperTestSupport
import Testing

/// A move job across the death of its host.
extension FailoverEndToEndTests {
    /// 4 MiB of a pattern that differs per 4 KiB block.
    static let movedData = Data((0..<(4 << 20)).map { UInt8(truncatingIfNeeded: ($0 >> 12) &* 29 &+ $0 &* 5) })

    /// Waits (long polls on `server`'s event log) until job `id` is in `phase`; returns the job.
    static func waitForJob(_ id: String, phase: String, on server: ServerProcess) async throws -> [String: Any] {
        var after = 0
        for _ in 0..<60 {
            let job = try await server.call("GET", "/v1/jobs/\(id)").json
            if job["phase"] as? String == phase { return job }
            after =
                try await server.call("GET", "/v1/events?after=\(after)&timeoutMs=5000").json["last"] as? Int ?? after
        }
        return try await server.call("GET", "/v1/jobs/\(id)").json
    }

    @Test(
        "kill -9 of a host in the middle of a move: job ids never collide, and the host that claims the device finishes the move"
    )
    func moveAcrossFailover() async throws {
        let store = try await PostgresTestServer.database()
        let storage = try temporaryDataDirectory()
        let old = NBDKit(["file", try Self.image(in: storage.appendingPathComponent("old")).path])
        let new = NBDKit(["file", try Self.image(in: storage.appendingPathComponent("new")).path])
        try old.start()
        try new.start()
        let a = try Self.host("a", store: store, lease: 1000)
        let b = try Self.host("b", store: store, lease: 1000)
        try await a.start()
        try await b.start()
        defer { _ = b.terminate() }

        for (name, server) in [("old", old), ("new", new)] {
            let made = try await a.call("POST", "/v1/backends", json: #"{"name":"\#(name)","uri":"\#(server.uri)"}"#)
            #expect(made.status == 201, "\(String(decoding: made.body, as: UTF8.self))")
        }
        #expect(
            try await a.call("POST", "/v1/devices", json: #"{"name":"d","table":{"text":"0 8192 linear old 0"}}"#)
                .status == 201)
        #expect(try await a.call("PUT", "/v1/devices/d/data?offset=0", bytes: Self.movedData).status == 204)
        // a's move, slow enough to be under way when a dies.
        let moving = try await a.call(
            "POST", "/v1/devices/d/move", json: #"{"from":"old","to":"new","maxBytesPerSecond":65536}"#)
        #expect(moving.status == 202)
        let id = try #require(moving.json["id"] as? String)
        #expect(try await Self.waitForJob(id, phase: "syncing", on: a)["phase"] as? String == "syncing")
        // The mirrors keep their region state in memory: no file of a's is needed to load them.
        let mirrored = try await a.call("GET", "/v1/devices/d/table").json["text"] as? String
        #expect(mirrored == "0 8192 mirror core 1 1024 2 old 0 new 0 1 handle_errors\n", "\(mirrored ?? "")")

        // b moves a device of its own meanwhile: its job gets an id of its own, and a's record
        // stays a's.
        for name in ["x", "y"] {
            #expect(
                try await b.call(
                    "POST", "/v1/backends", json: #"{"name":"\#(name)","file":"\#(name).img","sizeBytes":1048576}"#
                ).status == 201)
        }
        #expect(
            try await b.call("POST", "/v1/devices", json: #"{"name":"e","table":{"text":"0 2048 linear x 0"}}"#)
                .status == 201)
        let other = try await b.call("POST", "/v1/devices/e/move", json: #"{"from":"x","to":"y"}"#)
        #expect(other.status == 202)
        let otherID = try #require(other.json["id"] as? String)
        #expect(otherID != id)
        #expect(try await Self.waitForJob(otherID, phase: "completed", on: b)["device"] as? String == "e")

        // A write during the move, then a dies with the job paused half-way (persisted).
        let block = Data(repeating: 0xA7, count: 4096)
        #expect(try await a.call("PUT", "/v1/devices/d/data?offset=3145728", bytes: block).status == 204)
        #expect(try await a.call("POST", "/v1/jobs/\(id)/pause").status == 200)
        a.kill9()

        _ = try await Self.claim("d", on: b)
        // b took the job up with the device, where a left it, and finishes it.
        let taken = try await b.call("GET", "/v1/jobs/\(id)").json
        #expect(taken["device"] as? String == "d" && taken["phase"] as? String == "syncing", "\(taken)")
        #expect(taken["paused"] as? Bool == true, "\(taken)")
        #expect(try await b.call("PUT", "/v1/jobs/\(id)/throttle", json: #"{"maxBytesPerSecond":0}"#).status == 200)
        #expect(try await b.call("POST", "/v1/jobs/\(id)/resume").status == 200)
        let done = try await Self.waitForJob(id, phase: "completed", on: b)
        #expect(done["phase"] as? String == "completed" && done["copiedBytes"] as? Int == 4 << 20, "\(done)")
        #expect(try await b.call("GET", "/v1/devices/d/table").json["text"] as? String == "0 8192 linear new 0\n")
        var expected = Self.movedData
        expected.replaceSubrange(3_145_728..<3_149_824, with: block)
        #expect(try await b.call("GET", "/v1/devices/d/data?offset=0&length=4194304").body == expected)
        #expect(try Data(contentsOf: storage.appendingPathComponent("new/lun.img")) == expected)
        // Both jobs, each under its own id.
        let jobs = (try await b.call("GET", "/v1/jobs").json["jobs"] as? [[String: Any]] ?? [])
            .map { ($0["id"] as? String ?? "", $0["device"] as? String ?? "") }
        #expect(Set(jobs.map(\.0)) == [id, otherID] && Set(jobs.map(\.1)) == ["d", "e"], "\(jobs)")
    }
}
