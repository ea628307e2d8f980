import Foundation
import Logging
import MapperCore
import MapperServer
import MapperTestSupport
import Testing

/// Remote backends, path checkers and no_path_retry over the API, and a restart while the
/// remote storage (nbdkit) is down.
@Suite("Remote paths", .enabled(if: NBDKit.isAvailable, "needs nbdkit"))
struct RemotePathTests {
    static func image(in directory: URL) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("remote-\(UUID().uuidString).img")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data(count: 1 << 20))
        return file
    }

    @Test("NBD backends and paths over the API: transport and checker in the JSON, checker and policy updates, errors")
    func api() async throws {
        let fixture = try await RouterFixture()
        let nbdkit = NBDKit(["file", try Self.image(in: fixture.directory).path])
        try nbdkit.start()
        try await fixture.run { client in
            let backend = try await client.call(.post, "/v1/backends", json: #"{"name":"lun0","uri":"\#(nbdkit.uri)"}"#)
            #expect(backend.status == 201)
            #expect(backend.json["kind"] as? String == "nbd")
            #expect(backend.json["sizeBytes"] as? Int == 1 << 20)
            #expect(backend.json["connected"] as? Bool == true)
            let path = try await client.call(.post, "/v1/paths", json: #"{"name":"p1","backend":"lun0"}"#)
            #expect(path.status == 201)
            let transport = path.json["transport"] as? [String: Any]
            #expect(transport?["kind"] as? String == "nbd")
            #expect(transport?["connected"] as? Bool == true)
            #expect((path.json["checker"] as? [String: Any])?["intervalMs"] as? Int == 5000)
            let off = try await client.call(.put, "/v1/paths/p1/checker", json: #"{"enabled":false}"#)
            #expect(off.status == 200)
            #expect(off.json["checker"] == nil)
            let on = try await client.call(.put, "/v1/paths/p1/checker", json: #"{"enabled":true,"intervalMs":250}"#)
            #expect((on.json["checker"] as? [String: Any])?["intervalMs"] as? Int == 250)
            #expect((on.json["checker"] as? [String: Any])?["timeoutMs"] as? Int == 5000)
            try await client.call(
                .post, "/v1/devices",
                json: #"{"name":"mp","table":{"text":"0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1"}}"#)
            let policy = try await client.call(.put, "/v1/devices/mp/policy", json: #"{"noPathRetry":12}"#)
            #expect(policy.status == 200)
            #expect(policy.json["noPathRetry"] as? Int == 12)
            #expect(try await client.call(.put, "/v1/devices/mp/policy", json: #"{"noPathRetry":"fail"}"#).json["noPathRetry"] as? String == "fail")
            #expect(try await client.call(.put, "/v1/devices/mp/policy", json: #"{"noPathRetry":0}"#).status == 400)

            let both = try await client.call(.post, "/v1/backends", json: #"{"name":"x","file":"x.img","uri":"\#(nbdkit.uri)"}"#)
            #expect(both.status == 400)
            let refused = try await client.call(.post, "/v1/backends", json: #"{"name":"y","uri":"nbd://127.0.0.1:1/"}"#)
            #expect(refused.status == 502)
            #expect(refused.code == "ECONNREFUSED")
            let fileWithURI = try await client.call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":4096}"#)
            #expect(fileWithURI.status == 201)
            #expect(try await client.call(.post, "/v1/paths", json: #"{"name":"p9","backend":"d0","uri":"\#(nbdkit.uri)"}"#).status == 400)
        }
    }

    /// A first server life: an NBD backend, two paths and a queueing multipath device over them.
    static func populate(_ configuration: ServerConfiguration, uri: String) async throws {
        let first = try await MapperRuntime(configuration: configuration, logger: Logger(label: "test"))
        try await first.manager.createBackend(name: "lun0", uri: uri)
        try await first.manager.createPath(name: "p1", backend: "lun0")
        try await first.manager.createPath(name: "p2", backend: "lun0")
        try await first.manager.createDevice(
            name: "mp",
            table: TableParser.parse("0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"))
        await first.close()
    }

    @Test("a restart with nbdkit down comes up with the paths failed and recovers when nbdkit returns")
    func restartWithServerDown() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mapperd-remote-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try Self.image(in: directory.appendingPathComponent("remote"))
        let nbdkit = NBDKit(["file", image.path])
        try nbdkit.start()
        var configuration = ServerConfiguration(port: 0, dataDirectory: directory.appendingPathComponent("data"))
        configuration.checker = try CheckerConfig(intervalMs: 50, timeoutMs: 1000)
        configuration.nbdClient = .init(connectTimeout: .seconds(2), requestTimeout: .seconds(5))
        try await Self.populate(configuration, uri: nbdkit.uri)
        await nbdkit.kill()

        let second = try await MapperRuntime(configuration: configuration, logger: Logger(label: "test"))
        #expect(second.recovery.problems.contains { $0.contains("lun0") && $0.contains("not reachable") })
        #expect(try second.manager.path(named: "p1").isActive == false)
        #expect(try second.manager.path(named: "p2").isActive == false)
        let device = try second.manager.device(named: "mp")
        let checker = Task { try await second.checker.run() }
        defer { checker.cancel() }
        let bio = second.manager.makeBio(
            op: .write, sector: 8, sectors: 8, buffer: IOBuffer(copying: [UInt8](repeating: 0x77, count: 4096)))
        try device.submit(bio)
        #expect(device.info.io.queued == 1)
        let before = second.manager.engine.events.lastSeq
        try nbdkit.start()
        #expect(await second.manager.engine.events.first(.checkerReinstated, after: before) != nil)
        #expect(await bio.wait() == nil)
        let handle = try FileHandle(forReadingFrom: image)
        try handle.seek(toOffset: 8 * 512)
        #expect(try handle.read(upToCount: 4096).map { Array($0).allSatisfy { $0 == 0x77 } } == true)
        try handle.close()
        checker.cancel()
        _ = try? await checker.value
        await second.close()
    }
}
