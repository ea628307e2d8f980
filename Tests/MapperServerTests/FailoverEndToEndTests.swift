import Foundation
import MapperTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Two real `mapperd` processes sharing one PostgreSQL database, with their storage on a real
/// `nbdkit` both reach: failover of a device with its queued writes after `kill -9` of its
/// owner, and a partition of the owner from the database (its clients still reach it).
@Suite(
    "Failover between hosts",
    .enabled(if: PostgresTestServer.available && NBDKit.isAvailable, "needs PostgreSQL and nbdkit"))
struct FailoverEndToEndTests {
    static let table = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"

    /// Block `index`'s bytes (each block differs, so a misplaced or doubled write shows).
    static func block(_ index: Int) -> Data {
        Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index &* 13 &+ 1) })
    }

    static func image(in directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent("lun.img")
        try #require(FileManager.default.createFile(atPath: url.path, contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: 4 << 20)
        try handle.close()
        return url
    }

    static func host(_ name: String, store: String, lease: Int = 3000) throws -> ServerProcess {
        ServerProcess(
            directory: try temporaryDataDirectory(),
            arguments: ["--store", store, "--host-id", name, "--lease-ms", "\(lease)"])
    }

    /// Claims `device` on `server` as soon as it is allowed; returns when the successful
    /// attempt was sent.
    static func claim(_ device: String, on server: ServerProcess) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let sent = ContinuousClock.now
            let reply = try await server.call("POST", "/v1/devices/\(device)/claim")
            if reply.status == 200 { return sent }
            #expect(reply.status == 409 && reply.code == "EBUSY", "\(String(decoding: reply.body, as: UTF8.self))")
            guard ContinuousClock.now < deadline else { throw FailoverError.neverClaimable }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// On `server`: backend `lun` on `storage`, paths p1 and p2 to it, both failing I/O and
    /// checks (so the checker cannot bring them back) and failed, and device `mp` (multipath,
    /// queue_if_no_path) over them: its writes queue.
    static func multipathWithoutPaths(on server: ServerProcess, storage: NBDKit) async throws {
        #expect(
            try await server.call("POST", "/v1/backends", json: #"{"name":"lun","uri":"\#(storage.uri)"}"#).status
                == 201)
        for path in ["p1", "p2"] {
            #expect(
                try await server.call("POST", "/v1/paths", json: #"{"name":"\#(path)","backend":"lun"}"#).status == 201)
            try await server.call("PUT", "/v1/paths/\(path)/fault", json: #"{"mode":"error"}"#)
            try await server.call("POST", "/v1/paths/\(path)/fail")
        }
        #expect(
            try await server.call("POST", "/v1/devices", json: #"{"name":"mp","table":{"text":"\#(table)"}}"#).status
                == 201)
    }

    /// On `server`: p1 and p2 work again and are reinstated, so the queued writes land.
    static func pathsBack(on server: ServerProcess) async throws {
        for path in ["p1", "p2"] {
            try await server.call("PUT", "/v1/paths/\(path)/fault", json: #"{"mode":"none"}"#)
            try await server.call("POST", "/v1/paths/\(path)/reinstate")
        }
    }

    enum FailoverError: Error { case neverClaimable, proxyDidNotStart }

    @Test("kill -9 of the owner with 100 writes queued: another host claims the device and each lands once")
    func killOwner() async throws {
        let store = try await PostgresTestServer.database()
        let storage = try temporaryDataDirectory()
        let nbdkit = NBDKit(["file", try Self.image(in: storage).path])
        try nbdkit.start()
        let a = try Self.host("a", store: store)
        let b = try Self.host("b", store: store)
        try await a.start()
        try await b.start()
        defer { _ = b.terminate() }

        try await Self.multipathWithoutPaths(on: a, storage: nbdkit)
        var ids: [String] = []
        for index in 0..<100 {
            let reply = try await a.call(
                "PUT", "/v1/devices/mp/data?offset=\(index * 4096)", bytes: Self.block(index),
                headers: ["Prefer": "respond-async", "Idempotency-Key": "w\(index)"])
            #expect(reply.status == 202)
            let id = try #require(reply.header("Bio-Id"))
            #expect(try await a.waitUntilDurable(id)["state"] as? String == "queued")
            ids.append(id)
        }
        // b sees a's device and cannot take it while a's lease holds.
        let hosts = try await b.call("GET", "/v1/hosts").json
        #expect(hosts["self"] as? String == "b")
        let owners = (hosts["hosts"] as? [[String: Any]] ?? []).map {
            ($0["id"] as? String ?? "", $0["devices"] as? [[String: Any]] ?? [])
        }
        #expect(owners.first { $0.0 == "a" }?.1.first?["name"] as? String == "mp")
        #expect(try await b.call("POST", "/v1/devices/mp/claim").code == "EBUSY")

        a.kill9()
        _ = try await Self.claim("mp", on: b)
        // The writes are b's now, queued as they were on a, under the ids a gave them.
        for id in ids { #expect(try await b.waitForBio(id, in: ["queued"])["state"] as? String == "queued") }
        try await Self.pathsBack(on: b)
        for id in ids { #expect(try await b.waitForBio(id)["state"] as? String == "completed") }
        for index in 0..<100 {
            #expect(
                try await b.call("GET", "/v1/devices/mp/data?offset=\(index * 4096)&length=4096").body
                    == Self.block(index))
        }
        // Exactly once: one bio per write, every one completed, none queued or failed.
        // (The reads above are bios too.)
        let bios = (try await b.call("GET", "/v1/bios?device=mp").json["bios"] as? [[String: Any]] ?? [])
            .filter { $0["op"] as? String == "write" }
        #expect(bios.count == 100)
        #expect(Set(bios.compactMap { $0["id"] as? String }) == Set(ids))
        #expect(bios.allSatisfy { $0["state"] as? String == "completed" })
        // A retry of a write with its key on the new owner finds the bio, not a new one.
        let retry = try await b.call(
            "PUT", "/v1/devices/mp/data?offset=0", bytes: Self.block(0),
            headers: ["Idempotency-Key": "w0", "Prefer": "respond-async"])
        #expect(retry.header("Bio-Id") == ids[0])

        // a comes back: it does not serve the device, and says who does.
        let restarted = ServerProcess(directory: a.directory, arguments: ["--store", store, "--host-id", "a"])
        try await restarted.start()
        defer { _ = restarted.terminate() }
        #expect(try await restarted.call("GET", "/v1/devices/mp").status == 404)
        #expect(restarted.log.contains("device served by another host") && restarted.log.contains("owner=b"))
        let claimed = try await restarted.call("POST", "/v1/devices/mp/claim")
        #expect(claimed.code == "EBUSY" && String(decoding: claimed.body, as: UTF8.self).contains("host 'b'"))
    }

    @Test(
        "an NBD client's write unanswered when its server dies: reported failed, landed once by the new owner",
        .enabled(
            if: FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/nbd.py"),
            "python3-libnbd is not installed"))
    func nbdClientAcrossFailover() async throws {
        let store = try await PostgresTestServer.database()
        let storage = try temporaryDataDirectory()
        let nbdkit = NBDKit(["file", try Self.image(in: storage).path])
        try nbdkit.start()
        let a = try Self.host("a", store: store, lease: 1000)
        let b = try Self.host("b", store: store, lease: 1000)
        try await a.start()
        try await b.start()
        defer { _ = b.terminate() }
        try await Self.multipathWithoutPaths(on: a, storage: nbdkit)
        let go = storage.appendingPathComponent("go")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/nbd_failover_client.py")
        let client = try ExternalTool.start("/usr/bin/python3", [script.path, a.nbdURI("mp"), go.path])
        // The client's write is held on a, durably: journaled as queued.
        var durable = false
        var rounds = 0
        while !durable && rounds < 20000 {
            let bios = try await a.call("GET", "/v1/bios?device=mp&state=queued").json["bios"] as? [[String: Any]]
            durable = bios?.first?["durable"] as? Bool == true
            rounds += 1
        }
        #expect(durable)
        a.kill9()
        _ = try await Self.claim("mp", on: b)
        try await Self.pathsBack(on: b)
        let writes = { () async throws -> [[String: Any]] in
            (try await b.call("GET", "/v1/bios?device=mp").json["bios"] as? [[String: Any]] ?? [])
                .filter { $0["op"] as? String == "write" }
        }
        rounds = 0
        while try await writes().first?["state"] as? String != "completed" && rounds < 20000 { rounds += 1 }
        try Data(b.nbdURI("mp").utf8).write(to: go)
        let result = await client.finish()
        #expect(result.status == 0, "\(result.output)")
        // Never answered by a (it died holding it), landed by b, and only once.
        #expect(result.output.contains("write failed") && result.output.contains("landed"), "\(result.output)")
        let landed = try await writes()
        #expect(landed.count == 1 && landed.first?["state"] as? String == "completed")
    }

    @Test("with --takeover auto the other host takes the device by itself once the lease and grace ran out")
    func automaticTakeover() async throws {
        let store = try await PostgresTestServer.database()
        let storage = try temporaryDataDirectory()
        let nbdkit = NBDKit(["file", try Self.image(in: storage).path])
        try nbdkit.start()
        let a = try Self.host("a", store: store, lease: 1000)
        let b = ServerProcess(
            directory: try temporaryDataDirectory(),
            arguments: ["--store", store, "--host-id", "b", "--lease-ms", "1000", "--takeover", "auto"])
        try await a.start()
        try await b.start()
        defer { _ = b.terminate() }
        #expect(try await a.call("POST", "/v1/backends", json: #"{"name":"lun","uri":"\#(nbdkit.uri)"}"#).status == 201)
        #expect(
            try await a.call("POST", "/v1/devices", json: #"{"name":"lin","table":{"text":"0 2048 linear lun 0"}}"#)
                .status == 201)
        #expect(try await a.call("PUT", "/v1/devices/lin/data?offset=0", bytes: Self.block(1)).status == 204)
        // a lives: b leaves its device alone through several of its renewals.
        let watched = ContinuousClock.now
        while ContinuousClock.now < watched + .seconds(2) {
            #expect(try await b.call("GET", "/v1/devices/lin").status == 404)
            try await Task.sleep(for: .milliseconds(100))
        }
        a.kill9()
        let deadline = ContinuousClock.now + .seconds(30)
        while try await b.call("GET", "/v1/devices/lin").status != 200 {
            guard ContinuousClock.now < deadline else {
                Issue.record("b never took the device")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await b.call("GET", "/v1/devices/lin/data?offset=0&length=4096").body == Self.block(1))
        #expect(b.log.contains("device claimed"))
    }

    @Test("the owner cut off from the database serves on, then holds I/O within its lease; the claim comes only after")
    func partition() async throws {
        let store = try await PostgresTestServer.database()
        let socketDirectory = try #require(store.components(separatedBy: "host=").last)
        let proxyDirectory = try temporaryDataDirectory()
        try FileManager.default.createDirectory(at: proxyDirectory, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/socket_freeze_proxy.py")
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        proxy.arguments = [
            script.path, proxyDirectory.appendingPathComponent(".s.PGSQL.5432").path,
            "\(socketDirectory)/.s.PGSQL.5432",
        ]
        try proxy.run()
        defer {
            // SIGKILL: the test process may start children with SIGTERM blocked.
            kill(proxy.processIdentifier, SIGKILL)
            proxy.waitUntilExit()
        }
        let started = ContinuousClock.now
        while !FileManager.default.fileExists(atPath: proxyDirectory.appendingPathComponent(".s.PGSQL.5432").path) {
            guard ContinuousClock.now < started + .seconds(20) else { throw FailoverError.proxyDidNotStart }
            try await Task.sleep(for: .milliseconds(10))
        }
        let proxied = store.replacingOccurrences(of: "host=\(socketDirectory)", with: "host=\(proxyDirectory.path)")

        let storage = try temporaryDataDirectory()
        let nbdkit = NBDKit(["file", try Self.image(in: storage).path])
        try nbdkit.start()
        let lease = 1500
        let a = try Self.host("a", store: proxied, lease: lease)
        let b = try Self.host("b", store: store, lease: lease)
        try await a.start()
        try await b.start()
        defer {
            _ = a.terminate()
            _ = b.terminate()
        }
        #expect(try await a.call("POST", "/v1/backends", json: #"{"name":"lun","uri":"\#(nbdkit.uri)"}"#).status == 201)
        #expect(
            try await a.call("POST", "/v1/devices", json: #"{"name":"lin","table":{"text":"0 2048 linear lun 0"}}"#)
                .status == 201)

        // A client writes block after block to a, each answered before the next.
        let lastAcknowledged = Mutex<ContinuousClock.Instant?>(nil)
        let writer = Task { () -> (sequence: Int, status: Int) in
            var sequence = 0
            while true {
                let reply = try await a.call(
                    "PUT", "/v1/devices/lin/data?offset=\(sequence % 128 * 4096)", bytes: Self.block(sequence))
                guard reply.status == 204 else { return (sequence, reply.status) }
                lastAcknowledged.withLock { $0 = .now }
                sequence += 1
            }
        }
        // Some writes land, then the partition.
        let deadline = ContinuousClock.now + .seconds(30)
        while lastAcknowledged.withLock({ $0 }) == nil {
            guard ContinuousClock.now < deadline else {
                Issue.record("no write to a was acknowledged")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let cut = ContinuousClock.now
        kill(proxy.processIdentifier, SIGUSR1)

        let claimSent = try await Self.claim("lin", on: b)
        let firstB = try await b.call("PUT", "/v1/devices/lin/data?offset=\(200 * 4096)", bytes: Self.block(999))
        #expect(firstB.status == 204)
        let firstBAcknowledged = ContinuousClock.now
        let lastA = try #require(lastAcknowledged.withLock { $0 })
        // a served on while the database was out of reach, held its I/O within its lease of the
        // cut, and before b could claim: no overlap.
        #expect(lastA > cut && lastA < cut + .milliseconds(lease))
        #expect(lastA < claimSent && claimSent < firstBAcknowledged)
        #expect(a.log.contains("lease not renewed in time: holding I/O"))
        // Asked while the database is out of reach, a answers from what it knows.
        let hosts = try await a.call("GET", "/v1/hosts")
        #expect(hosts.status == 504 && hosts.code == "ETIMEDOUT")
        #expect(String(decoding: hosts.body, as: UTF8.self).contains("is held"))

        // The partition heals: a finds the device claimed and drops it; the write it held is
        // answered with an error and never lands.
        kill(proxy.processIdentifier, SIGUSR2)
        let (held, status) = try await writer.value
        #expect(status >= 500, "the held write was answered \(status)")
        let landed = try await b.call("GET", "/v1/devices/lin/data?offset=\(held % 128 * 4096)&length=4096").body
        #expect(landed != Self.block(held))
        #expect(try await a.call("GET", "/v1/devices/lin").status == 404)
        #expect(a.log.contains("device claimed by another host"))
    }
}
