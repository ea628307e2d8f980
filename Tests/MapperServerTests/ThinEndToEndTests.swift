import Foundation
import MapperTestSupport
import Testing

/// Thin volumes over the real binary: a pool, a thin volume four times larger than its data,
/// a snapshot, `kill -9` with writes not yet flushed, a restart that finds every flushed
/// write, and `mapperd thin-check` on the metadata the crash left.
@Suite("thin end to end", .serialized, .timeLimit(.minutes(3)))
struct ThinEndToEndTests {
    static func pattern(_ seed: UInt8, count: Int) -> Data {
        Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
    }

    private func expectStatus(_ reply: ServerProcess.Reply, _ status: Int, _ what: String) {
        #expect(reply.status == status, "\(what): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
    }

    /// Takes snapshot 1 of thin device 0 (`vol`) and makes it device `snap` of `sectors`: the
    /// origin suspended while the pool takes it, as dm asks. `whileSuspended` runs before the
    /// origin resumes (the snapshot device exists then).
    private func snapshot(
        _ server: ServerProcess, sectors: Int, whileSuspended: () async throws -> Void = {}
    ) async throws {
        expectStatus(try await server.call("POST", "/v1/devices/vol/suspend"), 200, "suspend")
        expectStatus(
            try await server.call("POST", "/v1/devices/pool/message", json: #"{"message":"create_snap 1 0"}"#), 200,
            "create_snap")
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"snap","table":{"text":"0 \#(sectors) thin pool 1"}}"#),
            201, "snap")
        try await whileSuspended()
        expectStatus(try await server.call("POST", "/v1/devices/vol/resume"), 200, "resume")
    }

    /// Copies the pool's metadata as a crash left it to the directory named by
    /// `MAPPERD_CRASH_METADATA_DIR`, if set: CI runs `mapperd thin-check` on each copy after
    /// the tests.
    private func keepForCheck(_ directory: URL, as name: String) throws {
        guard let keep = ProcessInfo.processInfo.environment["MAPPERD_CRASH_METADATA_DIR"] else { return }
        let copy = URL(fileURLWithPath: keep).appendingPathComponent("\(name)-\(UUID().uuidString).meta")
        try FileManager.default.copyItem(at: directory.appendingPathComponent("meta.img"), to: copy)
    }

    /// Grows the data backend to `blocks` 64 KiB blocks and reloads the pool that long through
    /// a noflush suspend, as an operator does for a full pool.
    private func growPool(_ server: ServerProcess, toBlocks blocks: Int) async throws {
        expectStatus(
            try await server.call("PUT", "/v1/backends/data", json: #"{"sizeBytes":\#(blocks << 16)}"#), 200, "resize")
        expectStatus(
            try await server.call("POST", "/v1/devices/pool/suspend", json: #"{"noflush":true}"#), 200, "suspend")
        let table = "0 \(blocks * 128) thin-pool meta data 128 0"
        expectStatus(
            try await server.call("PUT", "/v1/devices/pool/table/inactive", json: #"{"text":"\#(table)"}"#), 200, "load"
        )
        expectStatus(try await server.call("POST", "/v1/devices/pool/resume"), 200, "resume")
    }

    /// Runs `mapperd thin-check` on the pool's metadata file.
    private func thinCheck(_ directory: URL) async throws -> ExternalTool.Result {
        try await ExternalTool.run(
            ServerProcess.binary.path, ["thin-check", "--metadata", directory.appendingPathComponent("meta.img").path])
    }

    @Test(
        "kill -9 with writes answered but not flushed: flushed writes and the snapshot survive, and thin-check passes")
    func crash() async throws {
        // 8 MiB of data (128 blocks of 64 KiB) behind a 32 MiB volume.
        let server = try await poolServer(dataBlocks: 128)
        let directory = server.directory
        let first = Self.pattern(1, count: 1 << 20)
        expectStatus(try await server.call("PUT", "/v1/devices/vol/data?offset=0", bytes: first), 204, "write")
        try await snapshot(server, sectors: 65536)
        let second = Self.pattern(2, count: 64 << 10)
        expectStatus(try await server.call("PUT", "/v1/devices/vol/data?offset=0", bytes: second), 204, "overwrite")
        expectStatus(try await server.call("POST", "/v1/devices/vol/flush"), 204, "flush")
        let status = try await server.call("GET", "/v1/devices/pool/status").json
        let line = ((status["targets"] as? [[String: Any]])?.first?["status"] as? String) ?? ""
        #expect(line.contains(" 17/128 "), "\(line)")
        // Writes after the flush, to blocks far apart, then the crash.
        for index in 0..<16 {
            _ = try await server.call(
                "PUT", "/v1/devices/vol/data?offset=\((index * 2 + 20) << 20)", bytes: Self.pattern(9, count: 4096))
        }
        server.kill9()
        try keepForCheck(directory, as: "crash")

        let check = try await thinCheck(directory)
        #expect(check.succeeded, "\(check.output)")
        #expect(check.output.contains("thin devices 2"), "\(check.output)")

        let restarted = ServerProcess(directory: directory)
        try await restarted.start()
        defer { _ = restarted.terminate() }
        let volume = try await restarted.call("GET", "/v1/devices/vol/data?offset=0&length=1048576")
        #expect(volume.body == second + first[(64 << 10)...])
        let snapshot = try await restarted.call("GET", "/v1/devices/snap/data?offset=0&length=1048576")
        #expect(snapshot.body == first)
        let unwritten = try await restarted.call("GET", "/v1/devices/vol/data?offset=4194304&length=65536")
        #expect(unwritten.body == Data(count: 64 << 10))
        // The pool still allocates after the restart.
        expectStatus(
            try await restarted.call(
                "PUT", "/v1/devices/snap/data?offset=8388608", bytes: Self.pattern(3, count: 4096)),
            204, "write after restart")
        expectStatus(try await restarted.call("POST", "/v1/devices/snap/flush"), 204, "flush after restart")
        #expect(restarted.terminate() == 0)
        let after = try await thinCheck(directory)
        #expect(after.succeeded, "\(after.output)")
    }

    @Test("thin-check refuses a metadata file that is not a pool's, and one that was damaged")
    func checkRefuses() async throws {
        let directory = try temporaryDataDirectory()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(repeating: 0xA5, count: 1 << 20).write(to: directory.appendingPathComponent("meta.img"))
        let garbage = try await thinCheck(directory)
        #expect(garbage.status == 1 && garbage.output.contains("not a thin pool"), "\(garbage.output)")
        try Data(count: 1 << 20).write(to: directory.appendingPathComponent("meta.img"))
        let empty = try await thinCheck(directory)
        #expect(empty.status == 1 && empty.output.contains("never formatted"), "\(empty.output)")
    }

    /// A server with a pool of `dataBlocks` 64 KiB blocks (the data backend exactly that
    /// size), thin device 0 as `vol` (`volumeSectors` long).
    private func poolServer(
        dataBlocks: Int, volumeSectors: Int = 65536, features: String = ""
    ) async throws -> ServerProcess {
        let server = ServerProcess(directory: try temporaryDataDirectory())
        try await server.start()
        for (name, bytes) in [("meta", 4 << 20), ("data", dataBlocks << 16)] {
            expectStatus(
                try await server.call(
                    "POST", "/v1/backends", json: #"{"name":"\#(name)","file":"\#(name).img","sizeBytes":\#(bytes)}"#),
                201, name)
        }
        let table = "0 \(dataBlocks * 128) thin-pool meta data 128 0\(features.isEmpty ? "" : " " + features)"
        expectStatus(
            try await server.call("POST", "/v1/devices", json: #"{"name":"pool","table":{"text":"\#(table)"}}"#), 201,
            "pool")
        expectStatus(
            try await server.call("POST", "/v1/devices/pool/message", json: #"{"message":"create_thin 0"}"#), 200,
            "create_thin")
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"vol","table":{"text":"0 \#(volumeSectors) thin pool 0"}}"#),
            201, "vol")
        return server
    }

    /// Writes `device` has completed, from the metrics.
    private func writes(_ server: ServerProcess, _ device: String) async throws -> Int {
        let text = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
        let prefix = "mapperd_disk_writes_completed_total{device=\"\(device)\"} "
        let line = text.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }

    /// Polls `condition` (one request each round, no sleeping) for up to 60 s.
    private func until(_ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try await !condition() {
            if ContinuousClock.now > deadline {
                Issue.record("waited 60 s for \(what)")
                return
            }
        }
    }

    /// Copies an export into `file` and returns its SHA-256 (`sha256sum`).
    private func sha(_ server: ServerProcess, _ export: String, into file: URL) async throws -> String {
        let copy = try await ExternalTool.run("nbdcopy", [server.nbdURI(export), file.path])
        #expect(copy.succeeded, "\(copy.output)")
        let sum = try await ExternalTool.run("sha256sum", [file.path])
        #expect(sum.succeeded, "\(sum.output)")
        return String(sum.output.prefix { !$0.isWhitespace })
    }

    @Test(
        "a snapshot taken under fio --verify over NBD keeps the data of its moment while the origin changes",
        .enabled(if: ExternalTool.available("fio", "nbdcopy"), "fio or nbdcopy is not installed"))
    func snapshotUnderFio() async throws {
        let server = try await poolServer(dataBlocks: 256, volumeSectors: 16384)
        defer { _ = server.terminate() }
        let uri = server.nbdURI("vol")
        let fill = try await ExternalTool.run(
            "fio",
            [
                "--name=fill", "--ioengine=nbd", "--uri=\(uri)", "--rw=write", "--bs=64k", "--size=8M",
                "--verify=crc32c", "--do_verify=1", "--verify_state_save=0",
            ])
        #expect(fill.succeeded, "\(fill.output)")
        let filled = try await writes(server, "vol")
        // Every 4 KiB block of the volume rewritten once, in random order, and verified at the end.
        let fio = try ExternalTool.start(
            "fio",
            [
                "--name=change", "--ioengine=nbd", "--uri=\(uri)", "--rw=randwrite", "--bs=4k", "--size=8M",
                "--verify=crc32c", "--do_verify=1", "--verify_state_save=0", "--randseed=7",
            ])
        // The snapshot is taken once fio has written some of its blocks (polled, not timed).
        try await until("fio's first writes") { try await writes(server, "vol") >= filled + 100 }
        // The moment of the snapshot: while the origin is suspended nothing changes it, and the
        // snapshot shares every block with it, so a copy of the snapshot taken then is the
        // origin's data at that moment.
        let directory = server.directory
        var atSnapshot = ""
        try await snapshot(server, sectors: 16384) {
            atSnapshot = try await sha(server, "snap", into: directory.appendingPathComponent("snap-1.raw"))
        }
        let before = try await writes(server, "vol")
        let result = await fio.finish()
        #expect(result.succeeded, "\(result.output)")
        // fio went on writing the origin after the snapshot (every block it had not reached).
        #expect(try await writes(server, "vol") > before + 100)
        let later = try await sha(server, "snap", into: directory.appendingPathComponent("snap-2.raw"))
        let origin = try await sha(server, "vol", into: directory.appendingPathComponent("vol.raw"))
        #expect(!atSnapshot.isEmpty && later == atSnapshot)
        #expect(origin != atSnapshot)
    }

    @Test(
        "out of data space over NBD: a write waits, the data backend grows, the pool is reloaded, and it lands",
        .enabled(if: ExternalTool.available("qemu-io"), "qemu-io (qemu-utils) is not installed"))
    func fullPoolGrows() async throws {
        let server = try await poolServer(dataBlocks: 2)
        defer { _ = server.terminate() }
        let write = try ExternalTool.start(
            "qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 192k", "-c", "flush", server.nbdURI("vol")])
        // The third block finds the pool full: its write is held (queued in the thin target).
        try await until("a queued write") {
            (try await server.call("GET", "/v1/bios?device=vol&state=queued").json["bios"] as? [Any])?.isEmpty == false
        }
        let status = try await server.call("GET", "/v1/devices/pool/status").json
        #expect(
            ((status["targets"] as? [[String: Any]])?.first?["status"] as? String)?.contains("out_of_data_space")
                == true)
        // The metrics show it held in the thin device's target, as multipath's queue is.
        let metrics = String(decoding: try await server.call("GET", "/metrics").body, as: UTF8.self)
        #expect(
            metrics.contains(#"mapperd_device_held_bios{device="vol",location="target"} 1"#),
            "\(metrics.split(separator: "\n").filter { $0.contains("held_bios") })")
        try await growPool(server, toBlocks: 4)
        let result = await write.finish()
        #expect(result.succeeded && !result.output.contains("error"), "\(result.output)")
        let read = try await ExternalTool.run(
            "qemu-io", ["-f", "raw", "-c", "read -P 0x5a 0 192k", server.nbdURI("vol")])
        #expect(read.succeeded && !read.output.contains("Pattern verification failed"), "\(read.output)")
    }

    @Test(
        "with error_if_no_space the NBD client gets ENOSPC",
        .enabled(if: ExternalTool.available("qemu-io"), "qemu-io (qemu-utils) is not installed"))
    func errorIfNoSpaceOverNBD() async throws {
        let server = try await poolServer(dataBlocks: 1, features: "1 error_if_no_space")
        defer { _ = server.terminate() }
        let result = try await ExternalTool.run(
            "qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 64k", "-c", "write -P 0x5b 64k 64k", server.nbdURI("vol")])
        #expect(result.output.contains("No space left on device"), "\(result.output)")
        let read = try await ExternalTool.run(
            "qemu-io", ["-f", "raw", "-c", "read -P 0x5a 0 64k", server.nbdURI("vol")])
        #expect(read.succeeded && !read.output.contains("Pattern verification failed"), "\(read.output)")
    }

    @Test("a write held out of space is journaled: after kill -9 it is held again, and lands once the pool grows")
    func heldWriteSurvivesCrash() async throws {
        let server = try await poolServer(dataBlocks: 1)
        let directory = server.directory
        let block = Self.pattern(5, count: 4096)
        expectStatus(try await server.call("PUT", "/v1/devices/vol/data?offset=0", bytes: block), 204, "first block")
        expectStatus(try await server.call("POST", "/v1/devices/vol/flush"), 204, "flush")
        let held = try await server.call(
            "PUT", "/v1/devices/vol/data?offset=65536", bytes: block,
            headers: ["Prefer": "respond-async", "Idempotency-Key": "held"])
        expectStatus(held, 202, "held write")
        let id = try #require(held.header("Bio-Id"))
        let state = try await server.waitUntilDurable(id)
        #expect(state["state"] as? String == "queued" && state["durable"] as? Bool == true, "\(state)")
        server.kill9()
        try keepForCheck(directory, as: "held-write")
        let check = try await thinCheck(directory)
        #expect(check.succeeded, "\(check.output)")

        let restarted = ServerProcess(directory: directory)
        try await restarted.start()
        defer { _ = restarted.terminate() }
        // Held again once recovery's own journal entry for it has committed (until then it
        // reads inflight).
        let after = try await restarted.waitForBio(id, in: ["queued"])
        #expect(after["state"] as? String == "queued", "\(after)")
        try await growPool(restarted, toBlocks: 2)
        #expect(try await restarted.waitForBio(id)["state"] as? String == "completed")
        let data = try await restarted.call("GET", "/v1/devices/vol/data?offset=0&length=131072")
        #expect(data.body == block + Data(count: 61440) + block + Data(count: 61440))
    }
}
