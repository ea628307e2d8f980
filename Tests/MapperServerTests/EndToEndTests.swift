import Foundation
import MapperTestSupport
import Testing

/// The real binary on port 0 with a temporary data directory.
@Suite("End to end", .serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    static let mp = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"
    static let block = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })

    private func setUp(_ server: ServerProcess) async throws {
        #expect(
            try await server.call(
                "POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":4194304}"#
            ).status == 201)
        for name in ["p1", "p2", "p3"] {
            #expect(
                try await server.call("POST", "/v1/paths", json: #"{"name":"\#(name)","backend":"disk"}"#).status == 201
            )
        }
        #expect(
            try await server.call("POST", "/v1/devices", json: #"{"name":"mp","table":{"text":"\#(Self.mp)"}}"#).status
                == 201)
    }

    private func queuedWrite(_ server: ServerProcess, offset: Int, key: String? = nil) async throws -> String {
        var headers = ["Prefer": "respond-async"]
        if let key { headers["Idempotency-Key"] = key }
        let reply = try await server.call(
            "PUT", "/v1/devices/mp/data?offset=\(offset)", bytes: Self.block, headers: headers)
        #expect(reply.status == 202, "\(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
        let id = try #require(reply.header("Bio-Id"))
        // A slow commit makes the 202 say inflight; queued only once durable.
        #expect(try await server.waitUntilDurable(id)["state"] as? String == "queued")
        return id
    }

    @Test("the seed's ten behaviours over HTTP")
    func seedOverHTTP() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory(), arguments: ["--enable-fault-injection"])
        try await server.start()
        defer { _ = server.terminate() }
        try await setUp(server)
        // 1. I/O succeeds with valid paths.
        #expect(try await server.call("PUT", "/v1/devices/mp/data?offset=0", bytes: Self.block).status == 204)
        #expect(try await server.call("GET", "/v1/devices/mp/data?offset=0&length=4096").body == Self.block)
        // 2. Without queue_if_no_path and without paths: EIO (502).
        #expect(
            try await server.call(
                "POST", "/v1/devices",
                json: #"{"name":"nq","table":{"text":"0 2048 multipath 0 0 1 1 round-robin 0 1 1 p3 1"}}"#
            ).status == 201)
        #expect(try await server.call("POST", "/v1/paths/p3/fail").status == 200)
        let eio = try await server.call("PUT", "/v1/devices/nq/data?offset=0", bytes: Self.block)
        #expect(eio.status == 502 && eio.code == "EIO")
        #expect(try await server.call("POST", "/v1/paths/p3/reinstate").status == 200)
        // 3. Queued when both paths fail.
        for path in ["p1", "p2"] {
            try await server.call("POST", "/v1/devices/mp/message", json: #"{"message":"fail_path \#(path)"}"#)
        }
        let first = try await queuedWrite(server, offset: 8192)
        #expect(
            try await server.call("GET", "/v1/devices/mp").json["io"] as? [String: Int] == [
                "inFlight": 0, "queued": 1, "pushback": 0, "deferred": 0, "heldBytes": 4096, "refused": 0,
            ])
        // 5. Noflush suspend: flushed from the target, not returned.
        #expect(
            try await server.call("POST", "/v1/devices/mp/suspend", json: #"{"noflush":true}"#).json["state"] as? String
                == "suspended")
        #expect(try await server.call("GET", "/v1/bios/\(first)").json["state"] as? String == "deferred")
        // 6. Resume without recovery: queued again.
        try await server.call("POST", "/v1/devices/mp/resume")
        #expect(try await server.call("GET", "/v1/bios/\(first)").json["state"] as? String == "queued")
        // 7. Resume after path recovery (message while suspended).
        try await server.call("POST", "/v1/devices/mp/suspend", json: #"{"noflush":true}"#)
        #expect(
            try await server.call("POST", "/v1/devices/mp/message", json: #"{"message":"reinstate_path p1"}"#).status
                == 200)
        try await server.call("POST", "/v1/devices/mp/resume")
        #expect(try await server.waitForBio(first)["state"] as? String == "completed")
        #expect(try await server.call("GET", "/v1/devices/mp/data?offset=8192&length=4096").body == Self.block)
        // 8. Noflush resume after a table load (implicit suspend + swap).
        try await server.call("POST", "/v1/paths/p1/fail")
        let second = try await queuedWrite(server, offset: 16384)
        let load = try await server.call(
            "PUT", "/v1/devices/mp/table/inactive",
            json: #"{"text":"0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p3 1"}"#)
        #expect(load.status == 200)
        #expect(try await server.call("POST", "/v1/devices/mp/resume", json: #"{"noflush":true}"#).status == 200)
        #expect(try await server.waitForBio(second)["state"] as? String == "completed")
        // 4. Queued I/O fails on a suspend without noflush.
        try await server.call("POST", "/v1/paths/p3/fail")
        let third = try await queuedWrite(server, offset: 24576)
        try await server.call("POST", "/v1/devices/mp/suspend")
        let failed = try await server.waitForBio(third)
        #expect(failed["state"] as? String == "failed" && failed["error"] as? String == "EIO")
        try await server.call("POST", "/v1/devices/mp/resume")
        try await server.call("POST", "/v1/devices/mp/message", json: #"{"message":"queue_if_no_path"}"#)
        // 9. A failure after noflushSuspending is set: error, nothing left in pushback.
        let fourth = try await queuedWrite(server, offset: 32768)
        #expect(
            try await server.call(
                "POST", "/v1/debug/faults", json: #"{"point":"suspend.after-presuspend","error":"ENOMEM"}"#
            ).status == 204)
        let injected = try await server.call("POST", "/v1/devices/mp/suspend", json: #"{"noflush":true}"#)
        #expect(injected.status == 500 && injected.code == "ENOMEM")
        #expect(try await server.waitForBio(fourth)["state"] as? String == "failed")
        let device = try await server.call("GET", "/v1/devices/mp").json
        #expect(device["state"] as? String == "active")
        #expect((device["io"] as? [String: Int])?["pushback"] == 0)
        // 10. An interrupted noflush suspend: EINTR, device active.
        try await server.call("POST", "/v1/devices/mp/message", json: #"{"message":"queue_if_no_path"}"#)
        try await server.call("POST", "/v1/paths/p3/reinstate")
        try await server.call("PUT", "/v1/paths/p3/fault", json: #"{"mode":"stall"}"#)
        let stalled = try await server.call(
            "PUT", "/v1/devices/mp/data?offset=40960", bytes: Self.block, headers: ["Prefer": "respond-async"])
        #expect(stalled.status == 202 && stalled.json["state"] as? String == "inflight")
        let interrupted = try await server.call(
            "POST", "/v1/devices/mp/suspend", json: #"{"noflush":true,"timeoutMs":50}"#)
        #expect(interrupted.status == 409 && interrupted.code == "EINTR")
        #expect(try await server.call("GET", "/v1/devices/mp").json["state"] as? String == "active")
        try await server.call("PUT", "/v1/paths/p3/fault", json: #"{"mode":"none"}"#)
        let stalledID = try #require(stalled.header("Bio-Id"))
        #expect(try await server.waitForBio(stalledID)["state"] as? String == "completed")
        #expect(try await server.call("GET", "/v1/health").status == 200)
    }

    @Test("kill -9 with writes queued: after a restart every write lands exactly once", arguments: StoreKind.available)
    func killDashNine(store: StoreKind) async throws {
        let directory = try temporaryDataDirectory()
        // On PostgreSQL the state is in the database, not the data directory (which keeps the
        // backend files only).
        let arguments = store == .postgres ? ["--store", try await PostgresTestServer.database()] : []
        let server = ServerProcess(directory: directory, arguments: arguments)
        try await server.start()
        try await setUp(server)
        for path in ["p1", "p2"] { try await server.call("POST", "/v1/paths/\(path)/fail") }
        var ids: [String] = []
        for index in 0..<5 { ids.append(try await queuedWrite(server, offset: 65536 + index * 4096, key: "w\(index)")) }
        server.kill9()

        let restarted = ServerProcess(directory: directory, arguments: arguments)
        try await restarted.start()
        defer { _ = restarted.terminate() }
        if store == .postgres {
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("mapperd.sqlite").path))
        }
        for id in ids {
            // Queued again once recovery's own journal entry for it has committed.
            #expect(try await restarted.waitForBio(id, in: ["queued"])["state"] as? String == "queued")
        }
        #expect(try await restarted.call("GET", "/v1/paths/p1").json["state"] as? String == "failed")
        // A retry with the same key does not submit again.
        let retry = try await restarted.call(
            "PUT", "/v1/devices/mp/data?offset=65536", bytes: Self.block,
            headers: ["Idempotency-Key": "w0", "Prefer": "respond-async"])
        #expect(retry.header("Bio-Id") == ids[0])
        try await restarted.call("POST", "/v1/paths/p2/reinstate")
        for id in ids { #expect(try await restarted.waitForBio(id)["state"] as? String == "completed") }
        for index in 0..<5 {
            #expect(
                try await restarted.call("GET", "/v1/devices/mp/data?offset=\(65536 + index * 4096)&length=4096").body
                    == Self.block)
        }
        let queued = try await restarted.call("GET", "/v1/bios?state=queued").json["bios"] as? [Any]
        #expect(queued?.isEmpty == true)
    }

    @Test("bad input gets the right code and the server stays healthy")
    func badInput() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory(), arguments: ["--max-data-bytes", "65536"])
        try await server.start()
        defer { #expect(server.terminate() == 0) }
        try await setUp(server)
        #expect(try await server.call("POST", "/v1/devices", json: "{\"name\":").code == "EINVAL")
        #expect(
            try await server.call("POST", "/v1/backends", json: #"{"name":"t","file":"../../etc/passwd"}"#).code
                == "EINVAL")
        #expect(try await server.call("PUT", "/v1/devices/mp/data?offset=3", bytes: Self.block).code == "EINVAL")
        #expect(try await server.call("GET", "/v1/devices/mp/data?offset=1048576&length=4096").code == "EINVAL")
        #expect(try await server.call("PUT", "/v1/devices/mp/data?offset=0", bytes: Data(count: 131072)).status == 413)
        #expect(try await server.call("GET", "/v1/health").json["status"] as? String == "ok")
        #expect(server.log.contains("listening on 127.0.0.1:"))
    }

    @Test(
        "a 64 MiB body from a client that writes before it reads is answered 413 at once; the server stays healthy",
        .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/python3"), "python3 is not installed"))
    func oversizedWriteFirst() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory())
        try await server.start()
        defer { #expect(server.terminate() == 0) }
        try await setUp(server)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/write_first.py")
        for (path, mebibytes) in [("/v1/devices/mp/data?offset=0", 64), ("/v1/devices/nope/data?offset=0", 9)] {
            let result = try await ExternalTool.run(
                "/usr/bin/python3", [script.path, "http://127.0.0.1:\(server.port)\(path)", "\(mebibytes)"])
            #expect(result.output.contains("status 413"), "\(result.output)")
        }
        #expect(try await server.call("GET", "/v1/health").json["status"] as? String == "ok")
    }

    @Test("a token protects everything but health; non-loopback without a token is refused")
    func security() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory(), environment: ["MAPPERD_TOKEN": "t0k3n"])
        try await server.start()
        defer { _ = server.terminate() }
        #expect(try await server.call("GET", "/v1/health").status == 200)
        #expect(try await server.call("GET", "/v1/devices").status == 401)
        #expect(try await server.call("GET", "/v1/devices", headers: ["Authorization": "Bearer t0k3n"]).status == 200)

        let open = ServerProcess(directory: try temporaryDataDirectory(), arguments: ["--host", "0.0.0.0"])
        await #expect(throws: ServerProcess.ServerError.self) { try await open.start() }
        open.process.waitUntilExit()
        #expect(open.process.terminationStatus != 0)
        #expect(open.log.contains("refusing to listen"))
    }
}
