import Foundation
import Logging
import MapperCore
import MapperStore
import MapperTestSupport
import Testing

@Suite("store (SQLite and PostgreSQL)")
struct StoreTests {
    @Test("the migration list is pinned and applied in order")
    func migrationsPinned() async throws {
        #expect(
            try Migrations.bundled().map(\.name) == [
                "0001_initial_schema", "0002_remote_paths", "0003_bio_device_removed", "0004_move_jobs",
            ])
        let fixture = try await StoreFixture()
        // One writer: the server numbers its move jobs itself.
        #expect(try await fixture.store.nextMoveJobNumber() == nil)
        #expect(
            try await fixture.store.appliedMigrations() == [
                "0001_initial_schema", "0002_remote_paths", "0003_bio_device_removed", "0004_move_jobs",
            ])
    }

    @Test("the PostgreSQL store applies its own migrations once", .enabled(if: PostgresTestServer.available))
    func postgresMigrations() async throws {
        let fixture = try await StoreFixture(.postgres)
        #expect(
            try await fixture.store.appliedMigrations() == [
                "0001_initial_schema", "0002_hosts", "0003_payload_uncompressed", "0004_event_host",
                "0005_move_job_number",
            ])
        // Move job numbers come from the database's sequence, one after the other, across
        // restarts (and across hosts: each asks the same sequence).
        #expect(try await fixture.store.nextMoveJobNumber() == 1)
        #expect(try await fixture.store.nextMoveJobNumber() == 2)
        // Opened again (another host, or a restart): nothing applied twice.
        try await fixture.crashAndRecover()
        #expect(try await fixture.store.nextMoveJobNumber() == 3)
        #expect(
            try await fixture.store.appliedMigrations() == [
                "0001_initial_schema", "0002_hosts", "0003_payload_uncompressed", "0004_event_host",
                "0005_move_job_number",
            ])
    }

    @Test("objects, tables, flags and events round-trip", arguments: StoreKind.available)
    func roundTrip(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.setFault(path: "p2", .delay(milliseconds: 3))
        try await fixture.manager.failPath(named: "p1")
        try await fixture.manager.createDevice(name: "lin", uuid: "U-1", readOnly: true)
        try await fixture.manager.load(device: "lin", text: "0 16 linear mp 0")
        try await fixture.manager.renameDevice(named: "lin", to: "lin2")
        try await device.suspend()
        let snapshot = try await fixture.store.snapshot()
        #expect(snapshot.backends.map(\.name) == ["disk"])
        #expect(snapshot.backends.first?.sizeSectors == 4096)
        #expect(snapshot.paths.map(\.name) == ["p1", "p2"])
        #expect(snapshot.paths[0].active == false && snapshot.paths[0].failCount == 1)
        #expect(snapshot.paths[1].fault == .delay(milliseconds: 3))
        #expect(snapshot.devices.map(\.name) == ["mp", "lin2"])
        #expect(snapshot.devices[0].live == [StoreFixture.multipath])
        #expect(snapshot.devices[0].suspended && snapshot.devices[0].eventNr == 1)
        #expect(
            snapshot.devices[0].targetStates[0] == [
                "queueIfNoPath": "0", "savedQueueIfNoPath": "1", "disabledByRetry": "0",
            ])
        #expect(snapshot.devices[1].inactive == ["0 16 linear mp 0"])
        #expect(snapshot.devices[1].uuid == "U-1" && snapshot.devices[1].readOnly)
        #expect(snapshot.recentEvents.contains { $0.kind == .deviceRenamed })
        try await fixture.manager.clear(device: "lin2")
        try await fixture.manager.removeDevice(named: "lin2")
        #expect(try await fixture.store.snapshot().devices.map(\.name) == ["mp"])
    }

    @Test("a crash with no shutdown loses nothing: objects and states come back", arguments: StoreKind.available)
    func stateSurvivesCrash(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.failPath(named: "p2")
        try await device.suspend()
        let report = try await fixture.crashAndRecover()
        #expect(report.problems.isEmpty)
        #expect((report.backends, report.paths, report.devices) == (1, 2, 1))
        let recovered = try fixture.manager.device(named: "mp")
        #expect(recovered.isSuspended)
        #expect(recovered.eventNr == 1)
        // While suspended, multipath prints the live queue_if_no_path, which presuspend turned off (dm).
        #expect(
            recovered.liveTable?.text == StoreFixture.multipath.replacingOccurrences(
                of: "1 queue_if_no_path", with: "0") + "\n")
        #expect(try !fixture.manager.path(named: "p2").isActive)
        try await recovered.resume()
        #expect(recovered.liveTable?.text == StoreFixture.multipath + "\n")
        #expect(recovered.liveTable?.targets.first?.target.status().contains("p2 F 1") == true)
    }

    @Test(
        "bios queued in a target come back in order and complete once path recovery happens",
        arguments: StoreKind.available)
    func targetQueueRecovery(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.failPath(named: "p1")
        try await fixture.manager.failPath(named: "p2")
        var bios: [Bio] = []
        for index in 0..<5 {
            bios.append(try await fixture.queuedWrite(device, sector: UInt64(index * 8), byte: UInt8(0x10 + index)))
        }
        #expect(bios.allSatisfy { $0.isDurablyQueued })
        let report = try await fixture.crashAndRecover()
        #expect(report.bios == 5 && report.problems.isEmpty)
        let recovered = try fixture.manager.device(named: "mp")
        #expect(!recovered.isSuspended)
        #expect(recovered.info.io.queued == 5)
        let target = try #require(recovered.liveTable?.targets.first?.target as? MultipathTarget)
        #expect(target.structuredStatus.queueSize == 5)
        let stored = try await fixture.store.bios(device: "mp", state: .queued)
        #expect(Set(stored.map(\.id)) == Set(bios.map(\.id)))
        try await fixture.manager.reinstatePath(named: "p1")
        for index in 0..<5 {
            #expect(
                try fixture.fileBytes("disk", sector: index * 8, sectors: 8)
                    == [UInt8](repeating: UInt8(0x10 + index), count: 4096))
        }
        await fixture.settle(report.recovered["mp"] ?? [])
        let states = try await fixture.store.bios(device: "mp").map { "\($0.id) \($0.state)" }
        #expect(try await fixture.store.bios(device: "mp", state: .completed).count == 5, "\(states)")
        // Nothing is recovered twice.
        let again = try await fixture.crashAndRecover()
        #expect(again.bios == 0)
    }

    @Test("deferred bios come back deferred, in order, on a suspended device", arguments: StoreKind.available)
    func deferredRecovery(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await device.suspend()
        var ids: [UInt64] = []
        for index in 0..<4 {
            ids.append(try await fixture.queuedWrite(device, sector: UInt64(index * 8), byte: UInt8(0x20 + index)).id)
        }
        try await fixture.crashAndRecover()
        let recovered = try fixture.manager.device(named: "mp")
        #expect(recovered.isSuspended)
        #expect(recovered.deferredBios.map(\.id) == ids)
        try await recovered.resume()
        await fixture.settle(recovered.deferredBios)
        #expect(try await fixture.store.bios(device: "mp", state: .completed).count == 4)
        #expect(try fixture.fileBytes("disk", sector: 24, sectors: 8) == [UInt8](repeating: 0x23, count: 4096))
    }

    @Test(
        "bios found in pushback are handled as an interrupted suspend: re-issued, queued again",
        arguments: StoreKind.available)
    func pushbackRecovery(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        try await fixture.backend("disk", sectors: 4096)
        for name in ["p1", "p2"] { try await fixture.manager.createPath(name: name, backend: "disk") }
        let device = try await fixture.manager.createDevice(
            name: "mp",
            table: TableParser.parse(
                "0 1024 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1\n"
                    + "1024 1024 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p2 1"))
        try await fixture.manager.failPath(named: "p1")
        let pushed = try await fixture.queuedWrite(device, sector: 0, byte: 0x31)
        try await fixture.manager.setFault(path: "p2", .stall)
        let stalled = fixture.manager.makeBio(
            op: .write, sector: 1024, sectors: 8, buffer: IOBuffer(copying: [UInt8](repeating: 0x32, count: 4096)))
        try device.submit(stalled)
        // The suspend waits forever for the stalled bio: crash in the middle of it.
        let mark = fixture.manager.engine.events.lastSeq
        let suspend = Task { try await device.suspend(noflush: true) }
        _ = await fixture.manager.engine.events.first(.suspendWaiting, after: mark)
        #expect(device.pushbackBios.count == 1)
        await pushed.waitUntilEndedOrDurablyQueued()
        #expect(pushed.state == .pushback && pushed.isDurablyQueued)
        let report = try await fixture.crashAndRecover()
        #expect(report.bios == 1)
        let recovered = try fixture.manager.device(named: "mp")
        #expect(!recovered.isSuspended)
        let recoveredBio = try #require(
            (recovered.liveTable?.targets.first?.target as? MultipathTarget)?.structuredStatus.queueSize)
        #expect(recoveredBio == 1)
        try await fixture.manager.reinstatePath(named: "p1")
        await fixture.settle(report.recovered["mp"] ?? [])
        #expect(try await fixture.store.bio(id: pushed.id)?.state == .completed)
        #expect(try fixture.fileBytes("disk", sector: 0, sectors: 8) == [UInt8](repeating: 0x31, count: 4096))
        suspend.cancel()
        _ = try? await suspend.value
    }

    @Test(
        "crash under load: every bio reported queued completes exactly once with its data",
        arguments: StoreKind.available)
    func crashUnderLoad(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.failPath(named: "p1")
        try await fixture.manager.failPath(named: "p2")
        let queued = try await withThrowingTaskGroup(of: Bio.self) { group in
            for index in 0..<64 {
                group.addTask {
                    try await fixture.queuedWrite(
                        device, sector: UInt64(index * 16), sectors: 16, byte: UInt8(index + 1))
                }
            }
            var bios: [Bio] = []
            for try await bio in group { bios.append(bio) }
            return bios
        }
        #expect(queued.allSatisfy { $0.isDurablyQueued })
        // Group commit: 64 concurrent bios took far fewer commits.
        #expect(fixture.store.statistics.commits < 64)
        let report = try await fixture.crashAndRecover()
        #expect(report.bios == 64)
        try await fixture.manager.reinstatePath(named: "p2")
        await fixture.settle(report.recovered["mp"] ?? [])
        #expect(try await fixture.store.bios(device: "mp", state: .completed).count == 64)
        for index in 0..<64 {
            #expect(
                try fixture.fileBytes("disk", sector: index * 16, sectors: 16)
                    == [UInt8](repeating: UInt8(index + 1), count: 8192))
        }
        let stored = try await fixture.store.bios(device: "mp")
        #expect(stored.count == 64 && stored.allSatisfy { $0.state == .completed && $0.error == nil })
        #expect(try await fixture.crashAndRecover().bios == 0)
    }

    @Test("queued reads cannot be delivered after a restart: they fail with EIO", arguments: StoreKind.available)
    func queuedReadsAreLost(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.failPath(named: "p1")
        try await fixture.manager.failPath(named: "p2")
        let read = fixture.manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        try device.submit(read)
        await read.waitUntilEndedOrDurablyQueued()
        let report = try await fixture.crashAndRecover()
        #expect(report.lostReads == 1 && report.bios == 0)
        #expect(try await fixture.store.bio(id: read.id)?.state == .failed)
    }

    @Test(
        "a missing or shrunk backend file is reported; other devices come up; nothing is deleted",
        arguments: StoreKind.available)
    func damagedBackends(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.backend("gone", sectors: 64)
        try await fixture.backend("small", sectors: 64)
        try await fixture.manager.createDevice(name: "g", table: TableParser.parse("0 64 linear gone 0"))
        let s = try await fixture.manager.createDevice(name: "s", table: TableParser.parse("0 64 linear small 0"))
        try await s.suspend()
        _ = try await fixture.queuedWrite(s, sector: 0, byte: 0x41)
        _ = device
        try FileManager.default.removeItem(at: fixture.directory.appendingPathComponent("gone.img"))
        let handle = try FileHandle(forWritingTo: fixture.directory.appendingPathComponent("small.img"))
        try handle.truncate(atOffset: 32 * 512)
        try handle.close()
        let report = try await fixture.crashAndRecover()
        #expect(report.problems.contains { $0.contains("backend 'gone'") })
        #expect(report.problems.contains { $0.contains("backend 'small'") && $0.contains("shrank") })
        #expect(report.problems.contains { $0.contains("device 'g'") })
        #expect(try !fixture.manager.device(named: "mp").isSuspended)
        let small = try fixture.manager.device(named: "s")
        #expect(small.isSuspended && small.liveTable == nil && small.deferredBios.count == 1)
        let snapshot = try await fixture.store.snapshot()
        #expect(snapshot.backends.map(\.name).sorted() == ["disk", "gone", "small"])
        #expect(snapshot.devices.first { $0.name == "g" }?.live == ["0 64 linear gone 0"])
    }

    @Test("a corrupt database is a clear error and the file is left alone")
    func corruptDatabase() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mapperd-corrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("mapperd.sqlite").path
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteStore(path: path)
        } throws: { error in
            guard case StoreError.unreadable(let errorPath, _) = error else { return false }
            return errorPath == path
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
    }

    @Test("a second server cannot take the data directory")
    func directoryLock() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mapperd-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try DataDirectoryLock(directory: directory)
        #expect(throws: StoreError.self) { try DataDirectoryLock(directory: directory) }
        _ = first
    }
}

/// Polls `condition` (with yields, bounded) until it holds: for effects that land on the
/// store's writer thread after an I/O completed.
