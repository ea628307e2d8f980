import Foundation
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

    /// Runs `mapperd thin-check` on the pool's metadata file.
    private func thinCheck(_ directory: URL) async throws -> ExternalTool.Result {
        try await ExternalTool.run(
            ServerProcess.binary.path, ["thin-check", "--metadata", directory.appendingPathComponent("meta.img").path])
    }

    @Test("kill -9 with writes in flight: flushed writes and the snapshot survive, and thin-check passes")
    func crash() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory, arguments: ["--no-nbd"])
        try await server.start()
        for (name, bytes) in [("meta", 4 << 20), ("data", 8 << 20)] {
            expectStatus(
                try await server.call(
                    "POST", "/v1/backends", json: #"{"name":"\#(name)","file":"\#(name).img","sizeBytes":\#(bytes)}"#),
                201, name)
        }
        // 8 MiB of data (128 blocks of 64 KiB) behind a 32 MiB volume.
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"pool","table":{"text":"0 16384 thin-pool meta data 128 16"}}"#),
            201, "pool")
        expectStatus(
            try await server.call("POST", "/v1/devices/pool/message", json: #"{"message":"create_thin 0"}"#), 200,
            "create_thin")
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"vol","table":{"text":"0 65536 thin pool 0"}}"#),
            201, "vol")
        let first = Self.pattern(1, count: 1 << 20)
        expectStatus(try await server.call("PUT", "/v1/devices/vol/data?offset=0", bytes: first), 204, "write")
        // The snapshot is taken with the origin suspended, as dm asks.
        expectStatus(try await server.call("POST", "/v1/devices/vol/suspend"), 200, "suspend")
        expectStatus(
            try await server.call("POST", "/v1/devices/pool/message", json: #"{"message":"create_snap 1 0"}"#), 200,
            "create_snap")
        expectStatus(try await server.call("POST", "/v1/devices/vol/resume"), 200, "resume")
        expectStatus(
            try await server.call(
                "POST", "/v1/devices", json: #"{"name":"snap","table":{"text":"0 65536 thin pool 1"}}"#),
            201, "snap")
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

        let check = try await thinCheck(directory)
        #expect(check.succeeded, "\(check.output)")
        #expect(check.output.contains("thin devices 2"), "\(check.output)")

        let restarted = ServerProcess(directory: directory, arguments: ["--no-nbd"])
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
}
