import Foundation
import MapperCore
import MapperTestSupport
import Testing

@testable import MapperNBD

/// Remote backends and paths over the NBD client, with nbdkit's file plugin as the storage:
/// I/O landing in nbdkit's file, failover when nbdkit dies, the checker reinstating a path
/// when it comes back, and no write lost or doubled when the connection is cut under load.
@Suite("NBD paths", .enabled(if: NBDKit.isAvailable, "needs nbdkit"))
struct NBDPathTests {
    static let sectors: UInt64 = 2048

    /// An engine with the NBD connector, a 1 MiB file and nbdkit serving it.
    static func setUp() throws -> (EngineFixture, NBDKit, URL) {
        let fixture = try EngineFixture(
            connector: NBDConnector(
                configuration: NBDClientConfiguration(connectTimeout: .seconds(10), requestTimeout: .seconds(5))),
            defaultChecker: try CheckerConfig(intervalMs: 50, timeoutMs: 1000))
        let file = fixture.directory.appendingPathComponent("remote.img")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data(count: Int(sectors) * 512))
        let nbdkit = NBDKit(["file", file.path])
        try nbdkit.start()
        return (fixture, nbdkit, file)
    }

    static func bytes(_ file: URL, sector: Int, count: Int = 4096) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(sector * 512))
        return Array(try handle.read(upToCount: count) ?? Data())
    }

    @Test("a linear device on an NBD backend writes into nbdkit's file and reads it back")
    func remoteBackendIO() async throws {
        let (fixture, nbdkit, file) = try Self.setUp()
        let backend = try await fixture.manager.createBackend(name: "lun0", uri: nbdkit.uri)
        #expect(backend.sizeSectors == Self.sectors)
        #expect(fixture.manager.info(backend).connected == true)
        let device = try await fixture.device("lin", table: "0 \(Self.sectors) linear lun0 0")
        let write = fixture.writeBio(sector: 64, sectors: 8, byte: 0x5a)
        try device.submit(write)
        #expect(await write.wait() == nil)
        #expect(try Self.bytes(file, sector: 64).allSatisfy { $0 == 0x5a })
        let read = fixture.readBio(sector: 64, sectors: 8)
        try device.submit(read)
        #expect(await read.wait() == nil)
        #expect(read.buffer?.bytes.allSatisfy { $0 == 0x5a } == true)
        // The size given must be the export's; a second route must reach the same size.
        await #expect(throws: MapperError.self) {
            try await fixture.manager.createBackend(name: "wrong", uri: nbdkit.uri, sizeBytes: 4096)
        }
        await #expect(throws: MapperError.self) {
            try await fixture.manager.createPath(name: "px", backend: "lun0", uri: "http://nope")
        }
        let path = try await fixture.manager.createPath(name: "p1", backend: "lun0")
        #expect(path.info.transport == TransportInfo(kind: "nbd", uri: nbdkit.uri, connected: true))
        #expect(path.checker == (try CheckerConfig(intervalMs: 50, timeoutMs: 1000)))
    }

    /// Two paths, each with its own connection, in one group with queue_if_no_path.
    static func multipath(_ fixture: EngineFixture, _ uri: String) async throws -> MappedDevice {
        try await fixture.manager.createBackend(name: "lun0", uri: uri)
        try await fixture.manager.createPath(name: "p1", backend: "lun0")
        try await fixture.manager.createPath(name: "p2", backend: "lun0")
        return try await fixture.device(
            "mp", table: "0 \(Self.sectors) multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1")
    }

    @Test("killing nbdkit fails both paths and queues writes; when it returns the checker reinstates a path and the queue drains")
    func failoverAndRecovery() async throws {
        let (fixture, nbdkit, file) = try Self.setUp()
        let device = try await Self.multipath(fixture, nbdkit.uri)
        try await fixture.withPathChecker {
            let first = fixture.writeBio(sector: 0, sectors: 8, byte: 1)
            try device.submit(first)
            #expect(await first.wait() == nil)

            let beforeKill = fixture.engine.events.lastSeq
            await nbdkit.kill()
            await fixture.waitForEvents(.pathFailed, paths: ["p1", "p2"], after: beforeKill)
            let queued = fixture.writeBio(sector: 8, sectors: 8, byte: 2)
            try device.submit(queued)
            #expect(device.info.io.queued == 1)

            let beforeStart = fixture.engine.events.lastSeq
            try nbdkit.start()
            #expect(await fixture.waitForEvent(.checkerReinstated, after: beforeStart) != nil)
            #expect(await queued.wait() == nil)
            #expect(try Self.bytes(file, sector: 8).allSatisfy { $0 == 2 })
            #expect(try Self.bytes(file, sector: 0).allSatisfy { $0 == 1 })
        }
    }

    @Test("a lost connection fails its path at once, with no I/O and no check")
    func disconnectFailsPath() async throws {
        let (fixture, nbdkit, _) = try Self.setUp()
        try await fixture.manager.createBackend(name: "lun0", uri: nbdkit.uri)
        for name in ["p1", "p2"] {
            try await fixture.manager.createPath(name: name, backend: "lun0", checker: try CheckerConfig(intervalMs: 3_600_000, timeoutMs: 1000))
        }
        try await fixture.device("mp", table: "0 \(Self.sectors) multipath 0 0 1 1 round-robin 0 2 1 p1 1 p2 1")
        let before = fixture.engine.events.lastSeq
        await nbdkit.kill()
        await fixture.waitForEvents(.pathFailed, paths: ["p1", "p2"], after: before)
        #expect(try fixture.manager.path(named: "p1").info.transport.connected == false)
        #expect(fixture.engine.events.events(after: before).allSatisfy { $0.kind != .checkerFailed })
    }

    @Test("a removed path is released: its transport lets go of the disconnect handler that holds it")
    func removedPathIsReleased() async throws {
        let (fixture, nbdkit, _) = try Self.setUp()
        try await fixture.manager.createBackend(name: "lun0", uri: nbdkit.uri)
        try await fixture.manager.createPath(name: "p1", backend: "lun0")
        weak let path = try fixture.manager.path(named: "p1")
        #expect(path?.info.transport.connected == true)
        try await fixture.manager.removePath(named: "p1")
        #expect(path == nil, "the path outlived its removal")
    }

    @Test("a connection cut under 8 concurrent writers: every write ends exactly once with its bytes on the server")
    func cutUnderLoad() async throws {
        let (fixture, nbdkit, file) = try Self.setUp()
        let device = try await Self.multipath(fixture, nbdkit.uri)
        let rounds = 16
        try await fixture.withPathChecker {
            // Each writer writes its own sectors one after another; the test kills nbdkit once
            // 32 writes have ended and starts it again while the writers go on.
            let (progress, report) = AsyncStream<Void>.makeStream()
            let results = try await withThrowingTaskGroup(of: [(UInt64, UInt8, Errno?)].self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        var ended: [(UInt64, UInt8, Errno?)] = []
                        for round in 0..<rounds {
                            let sector = UInt64((writer * rounds + round) * 8)
                            let byte = UInt8(1 + writer * rounds + round)
                            let bio = fixture.writeBio(sector: sector, sectors: 8, byte: byte)
                            try device.submit(bio)
                            let error = await bio.wait()
                            ended.append((sector, byte, error))
                            report.yield()
                        }
                        return ended
                    }
                }
                var count = 0
                for await _ in progress {
                    count += 1
                    if count == 32 {
                        await nbdkit.kill()
                        try nbdkit.start()
                        break
                    }
                }
                var all: [(UInt64, UInt8, Errno?)] = []
                for try await ended in group { all += ended }
                return all
            }
            report.finish()
            #expect(results.count == 8 * rounds)
            #expect(Set(results.map(\.0)).count == 8 * rounds)
            for (sector, byte, error) in results {
                #expect(error == nil, "sector \(sector)")
                #expect(try Self.bytes(file, sector: Int(sector)).allSatisfy { $0 == byte }, "sector \(sector)")
            }
        }
    }
}
