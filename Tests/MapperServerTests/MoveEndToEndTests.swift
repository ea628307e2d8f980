import Foundation
import MapperTestSupport
import Testing

/// Move jobs over the real binary: across `kill -9`, and under fio writing through the NBD
/// export to a destination served by nbdkit.
@Suite("move jobs end to end", .serialized, .timeLimit(.minutes(3)))
struct MoveEndToEndTests {
    /// 4 MiB of a pattern that differs per 4 KiB block.
    static let pattern = Data((0..<(4 << 20)).map { UInt8(truncatingIfNeeded: ($0 >> 12) &* 31 &+ $0 &* 7) })

    private func expectStatus(_ reply: ServerProcess.Reply, _ status: Int, _ what: String) {
        #expect(reply.status == status, "\(what): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
    }

    /// Waits (long polls on the event log) until job `id` announces `phase`; returns the job.
    private func waitForPhase(_ server: ServerProcess, _ id: String, _ phase: String) async throws -> [String: Any] {
        var after = 0
        for _ in 0..<60 {
            let job = try await server.call("GET", "/v1/jobs/\(id)").json
            if job["phase"] as? String == phase { return job }
            let reply = try await server.call("GET", "/v1/events?after=\(after)&timeoutMs=5000").json
            after = reply["last"] as? Int ?? after
        }
        return try await server.call("GET", "/v1/jobs/\(id)").json
    }

    /// File backends of 4 MiB, `<name>.img`.
    private func makeBackends(_ server: ServerProcess, _ names: [String]) async throws {
        for name in names {
            expectStatus(
                try await server.call(
                    "POST", "/v1/backends", json: #"{"name":"\#(name)","file":"\#(name).img","sizeBytes":4194304}"#),
                201, name)
        }
    }

    /// The mirror's `<in_sync>/<total>` from the device's status line.
    private func regionsInSync(_ server: ServerProcess, _ device: String) async throws -> (Int, Int)? {
        let status = try await server.call("GET", "/v1/devices/\(device)/status").json
        let line = ((status["targets"] as? [[String: Any]])?.first?["status"] as? String) ?? ""
        guard let field = line.split(separator: " ").first(where: { $0.contains("/") }) else { return nil }
        let parts = field.split(separator: "/").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    @Test("kill -9 in the middle of the copy: after the restart the job goes on from its region log and completes")
    func killDuringSync() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory)
        try await server.start()
        try await makeBackends(server, ["old", "new"])
        expectStatus(
            try await server.call("POST", "/v1/devices", json: #"{"name":"d","table":{"text":"0 8192 linear old 0"}}"#),
            201, "device")
        expectStatus(try await server.call("PUT", "/v1/devices/d/data?offset=0", bytes: Self.pattern), 204, "fill")
        // 64 KiB regions at 256 KiB/s: 64 regions, about 16 s unthrottled by nothing else.
        let started = try await server.call(
            "POST", "/v1/devices/d/move",
            json: #"{"from":"old","to":"new","regionSizeSectors":128,"maxBytesPerSecond":262144}"#)
        expectStatus(started, 202, "move")
        #expect(started.header("Location") == "/v1/jobs/move-1")
        #expect(started.json["phase"] as? String == "starting")
        #expect(started.json["totalBytes"] as? Int == 4 << 20)
        // A quarter copied, two seconds or more at this rate: the log's lazy clean pass (every
        // half second) has marked the first regions clean on disk by now.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try await server.call("GET", "/v1/jobs/move-1").json["copiedBytes"] as? Int ?? 0) < 1 << 20,
            ContinuousClock.now < deadline
        {}
        // A write during the copy, to a region not copied yet (it goes to old; resync takes it).
        let block = Data(repeating: 0xC3, count: 4096)
        expectStatus(try await server.call("PUT", "/v1/devices/d/data?offset=3145728", bytes: block), 204, "write")
        // Frozen (persisted), so that what the restart finds is what the log kept.
        let paused = try await server.call("POST", "/v1/jobs/move-1/pause")
        expectStatus(paused, 200, "pause")
        #expect(paused.json["paused"] as? Bool == true)
        let before = try #require(try await regionsInSync(server, "d"))
        #expect(before.1 == 64 && before.0 > 0 && before.0 < 64, "\(before)")
        server.kill9()

        let restarted = ServerProcess(directory: directory)
        try await restarted.start()
        defer { _ = restarted.terminate() }
        let job = try await restarted.call("GET", "/v1/jobs/move-1").json
        #expect(job["phase"] as? String == "syncing" && job["paused"] as? Bool == true, "\(job)")
        // Not from zero: the regions the log had cleaned are in sync at once.
        let after = try #require(try await regionsInSync(restarted, "d"))
        #expect(after.0 > 0 && after.0 <= before.0, "before \(before), after \(after)")
        expectStatus(
            try await restarted.call("PUT", "/v1/jobs/move-1/throttle", json: #"{"maxBytesPerSecond":0}"#), 200,
            "throttle")
        expectStatus(try await restarted.call("POST", "/v1/jobs/move-1/resume"), 200, "resume")
        let done = try await waitForPhase(restarted, "move-1", "completed")
        #expect(done["phase"] as? String == "completed" && done["copiedBytes"] as? Int == 4 << 20, "\(done)")
        let table = try await restarted.call("GET", "/v1/devices/d/table").json
        #expect((table["text"] as? String)?.hasPrefix("0 8192 linear new 0") == true, "\(table)")
        var expected = Self.pattern
        expected.replaceSubrange(3_145_728..<3_149_824, with: block)
        #expect(try await restarted.call("GET", "/v1/devices/d/data?offset=0&length=4194304").body == expected)
        #expect(try Data(contentsOf: directory.appendingPathComponent("new.img")) == expected)
        // The log backend and its file are gone; the job is listed with its end.
        #expect(try await restarted.call("GET", "/v1/backends/move-1-log0").status == 404)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("move-1-log0.log").path))
        let list = try await restarted.call("GET", "/v1/jobs").json["jobs"] as? [[String: Any]]
        #expect(list?.map { $0["phase"] as? String } == ["completed"])
        // Ended: pause and cancel are refused.
        #expect(try await restarted.call("POST", "/v1/jobs/move-1/cancel").status == 400)
        #expect(try await restarted.call("POST", "/v1/jobs/move-9/pause").status == 404)
    }

    @Test(
        "fio writes and verifies through the NBD export while the device moves to nbdkit and back",
        .enabled(if: ExternalTool.available("fio") && NBDKit.isAvailable, "needs fio and nbdkit"))
    func moveUnderFio() async throws {
        let directory = try temporaryDataDirectory()
        let nbdkit = NBDKit(["memory", "64M"])
        try nbdkit.start()
        defer { Task { await nbdkit.kill() } }
        let server = ServerProcess(directory: directory)
        try await server.start()
        defer { _ = server.terminate() }
        expectStatus(
            try await server.call(
                "POST", "/v1/backends", json: #"{"name":"old","file":"old.img","sizeBytes":67108864}"#), 201, "old")
        expectStatus(
            try await server.call("POST", "/v1/backends", json: #"{"name":"remote","uri":"\#(nbdkit.uri)"}"#), 201,
            "remote")
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"d","table":{"text":"0 65536 linear old 0"}}"#),
            201, "device")
        // fio writes 32 MiB at random with checksums, then reads it all back and checks it.
        let fio = try ExternalTool.start(
            "fio",
            [
                "--name=move", "--ioengine=nbd", "--uri=\(server.nbdURI("d"))", "--rw=randwrite", "--bs=4k",
                "--size=32M", "--iodepth=8", "--verify=crc32c", "--do_verify=1", "--verify_state_save=0",
                "--output-format=json",
            ])
        // 32 MiB/s: the copy takes about two seconds, under fio's writes.
        let there = try await server.call(
            "POST", "/v1/devices/d/move",
            json: #"{"from":"old","to":"remote","regionSizeSectors":1024,"maxBytesPerSecond":33554432}"#)
        expectStatus(there, 202, "move to nbdkit")
        let syncing = try await waitForPhase(server, "move-1", "syncing")
        #expect(syncing["phase"] as? String == "syncing")
        #expect(fio.process.isRunning, "the mirror went in while fio was running")
        let first = try await waitForPhase(server, "move-1", "completed")
        #expect(first["phase"] as? String == "completed", "\(first)")
        let back = try await server.call("POST", "/v1/devices/d/move", json: #"{"from":"remote","to":"old"}"#)
        expectStatus(back, 202, "move back")
        let second = try await waitForPhase(server, "move-2", "completed")
        #expect(second["phase"] as? String == "completed", "\(second)")
        let result = await fio.finish()
        #expect(result.succeeded, "\(result.output)")
        #expect(result.output.contains("\"error\" : 0"), "\(result.output)")
        // A second pass reads everything back through the device, now on old again.
        let reread = try await ExternalTool.run(
            "fio",
            [
                "--name=move", "--ioengine=nbd", "--uri=\(server.nbdURI("d"))", "--rw=randwrite", "--bs=4k",
                "--size=32M", "--verify=crc32c", "--verify_only", "--verify_state_save=0",
            ])
        #expect(reread.succeeded, "\(reread.output)")
        let table = try await server.call("GET", "/v1/devices/d/table").json
        #expect((table["text"] as? String)?.hasPrefix("0 65536 linear old 0") == true, "\(table)")
    }

    @Test(
        "the destination dies mid-move: its leg is marked dead, the held write lands on the source, the job fails back",
        .enabled(if: NBDKit.isAvailable, "needs nbdkit"))
    func destinationDies() async throws {
        let directory = try temporaryDataDirectory()
        let nbdkit = NBDKit(["memory", "16M"])
        try nbdkit.start()
        let server = ServerProcess(directory: directory)
        try await server.start()
        defer { _ = server.terminate() }
        expectStatus(
            try await server.call(
                "POST", "/v1/backends", json: #"{"name":"old","file":"old.img","sizeBytes":4194304}"#), 201, "old")
        expectStatus(
            try await server.call("POST", "/v1/backends", json: #"{"name":"far","uri":"\#(nbdkit.uri)"}"#), 201, "far")
        expectStatus(
            try await server.call("POST", "/v1/devices", json: #"{"name":"d","table":{"text":"0 8192 linear old 0"}}"#),
            201, "device")
        // Held at 1 byte per second after the first region: the mirror stays in place.
        expectStatus(
            try await server.call(
                "POST", "/v1/devices/d/move", json: #"{"from":"old","to":"far","maxBytesPerSecond":1}"#), 202, "move")
        #expect(try await waitForPhase(server, "move-1", "syncing")["phase"] as? String == "syncing")
        // The first region is copied (the write below must find it in sync, to go to both legs).
        var after = 0
        var rounds = 0
        while try await regionsInSync(server, "d")?.0 ?? 0 < 1, rounds < 60 {
            let reply = try await server.call("GET", "/v1/events?after=\(after)&timeoutMs=1000").json
            after = reply["last"] as? Int ?? after
            rounds += 1
        }
        #expect(try await regionsInSync(server, "d")?.0 == 1)
        await nbdkit.kill()
        // The write fails on far, lands on old, and is held until the job swaps old back in.
        let block = Data(repeating: 0x9E, count: 4096)
        expectStatus(try await server.call("PUT", "/v1/devices/d/data?offset=8192", bytes: block), 204, "write")
        let job = try await waitForPhase(server, "move-1", "failed")
        #expect(job["phase"] as? String == "failed", "\(job)")
        #expect((job["error"] as? String)?.contains("destination") == true, "\(job)")
        let table = try await server.call("GET", "/v1/devices/d/table").json
        #expect((table["text"] as? String)?.hasPrefix("0 8192 linear old 0") == true, "\(table)")
        #expect(try await server.call("GET", "/v1/devices/d/data?offset=8192&length=4096").body == block)
        let events = try await server.call("GET", "/v1/events?after=0").json["events"] as? [[String: Any]] ?? []
        #expect(events.contains { $0["kind"] as? String == "mirror.leg-failed" && $0["path"] as? String == "far" })
    }

    @Test(
        "a multipath device with every path down moves across kill -9: the held write waits, then lands on the new storage"
    )
    func multipathMoveAcrossKill() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory, arguments: ["--no-nbd"])
        try await server.start()
        try await makeBackends(server, ["old", "new"])
        for name in ["p1", "p2"] {
            expectStatus(
                try await server.call("POST", "/v1/paths", json: #"{"name":"\#(name)","backend":"old"}"#), 201, name)
        }
        let multipath = "0 8192 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"
        expectStatus(
            try await server.call("POST", "/v1/devices", json: #"{"name":"mp","table":{"text":"\#(multipath)"}}"#),
            201, "device")
        expectStatus(try await server.call("PUT", "/v1/devices/mp/data?offset=0", bytes: Self.pattern), 204, "fill")
        for name in ["p1", "p2"] { expectStatus(try await server.call("POST", "/v1/paths/\(name)/fail"), 200, name) }
        // A write with no path left: held, durably.
        let block = Data(repeating: 0xD7, count: 4096)
        let write = try await server.call(
            "PUT", "/v1/devices/mp/data?offset=1048576", bytes: block, headers: ["Prefer": "respond-async"])
        expectStatus(write, 202, "held write")
        let id = try #require(write.header("Bio-Id"))
        #expect(try await server.waitUntilDurable(id)["durable"] as? Bool == true)
        expectStatus(
            try await server.call(
                "POST", "/v1/devices/mp/move", json: #"{"from":"old","to":"new","regionSizeSectors":128}"#), 202,
            "move")
        #expect(try await waitForPhase(server, "move-1", "syncing")["phase"] as? String == "syncing")
        let mirrored = try await server.call("GET", "/v1/devices/mp/table").json["text"] as? String
        #expect(mirrored?.hasPrefix("0 8192 mirror disk 2 move-1-log0 128 2 move-1-src0 0 new 0") == true)
        // Nothing can be copied while old has no path.
        #expect(try await server.call("GET", "/v1/jobs/move-1").json["copiedBytes"] as? Int == 0)
        server.kill9()

        let restarted = ServerProcess(directory: directory, arguments: ["--no-nbd"])
        try await restarted.start()
        defer { _ = restarted.terminate() }
        // The holder device came up before the device stacked on it, with its multipath line.
        let holder = try await restarted.call("GET", "/v1/devices/move-1-src0/table").json["text"] as? String
        #expect(holder?.hasPrefix(multipath) == true, "\(holder ?? "none")")
        let table = try await restarted.call("GET", "/v1/devices/mp/table").json["text"] as? String
        #expect(table == mirrored, "\(table ?? "none")")
        #expect(try await restarted.call("GET", "/v1/jobs/move-1").json["phase"] as? String == "syncing")
        let held = try await restarted.call("GET", "/v1/bios/\(id)").json
        #expect(held["completedAt"] == nil, "\(held)")
        expectStatus(try await restarted.call("POST", "/v1/paths/p1/reinstate"), 200, "reinstate")
        #expect(try await restarted.waitForBio(id)["state"] as? String == "completed")
        let done = try await waitForPhase(restarted, "move-1", "completed")
        #expect(done["phase"] as? String == "completed", "\(done)")
        let final = try await restarted.call("GET", "/v1/devices/mp/table").json["text"] as? String
        #expect(final?.hasPrefix("0 8192 linear new 0") == true, "\(final ?? "none")")
        #expect(try await restarted.call("GET", "/v1/devices/move-1-src0").status == 404)
        var expected = Self.pattern
        expected.replaceSubrange(1_048_576..<1_052_672, with: block)
        #expect(try await restarted.call("GET", "/v1/devices/mp/data?offset=0&length=4194304").body == expected)
        #expect(try Data(contentsOf: directory.appendingPathComponent("new.img")) == expected)
    }
}
