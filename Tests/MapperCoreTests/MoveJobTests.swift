import Foundation
import MapperTestSupport
import Synchronization
import Testing

@testable import MapperCore

/// Move jobs over file backends: the tables they swap in, the data they carry, cancel,
/// pause, and a job taken up again by a new manager.
@Suite("move jobs", .timeLimit(.minutes(1)))
struct MoveJobTests {
    /// A device `d` of 2,048 sectors on `old` (from sector 1,024), filled with 0x41, and a
    /// running job manager (with `nextNumber` and `coreLogs` as a shared store's server gives).
    static func setUp(
        nextNumber: @escaping @Sendable () async throws -> Int? = { nil }, coreLogs: Bool = false
    ) async throws -> (EngineFixture, JobManager, Task<Void, any Error>) {
        let fixture = try EngineFixture()
        try await fixture.backend("old", sectors: 4096)
        try await fixture.backend("new", sectors: 4096)
        let device = try await fixture.device("d", table: "0 2048 linear old 1024")
        #expect(try await fixture.write(device, sector: 0, sectors: 2048, byte: 0x41) == nil)
        let jobs = JobManager(
            manager: fixture.manager, logs: fixture.moveLogs, nextNumber: nextNumber, coreLogs: coreLogs)
        let service = Task { try await jobs.run() }
        return (fixture, jobs, service)
    }

    /// Waits for job `id` to announce `phase` after `mark`.
    static func phase(_ phase: MoveJobMachine.Phase, of id: String, _ fixture: EngineFixture, after mark: UInt64) async
        -> EngineEvent?
    {
        var seen = mark
        while let event = await fixture.waitForEvent(.jobPhase, after: seen) {
            if event.detail.hasPrefix("\(id) \(phase.rawValue)") { return event }
            seen = event.seq
        }
        return nil
    }

    @Test("a move mirrors the device onto the new backend, waits for sync, then leaves it on the new one alone")
    func completes() async throws {
        let (fixture, jobs, service) = try await Self.setUp()
        defer { service.cancel() }
        let mark = fixture.engine.events.lastSeq
        let job = try await jobs.startMove(device: "d", from: "old", to: "new", toOffset: 8, regionSize: 128)
        #expect(job.id == "move-1" && job.totalBytes == 2048 * 512 && job.machine.phase == .starting)
        #expect(await Self.phase(.completed, of: "move-1", fixture, after: mark)?.device == "d")
        let device = try fixture.manager.device(named: "d")
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear new 8"])
        #expect(try fixture.fileBytes("new", offset: 8 * 512, count: 2048 * 512).allSatisfy { $0 == 0x41 })
        let done = try jobs.job("move-1")
        #expect(done.copiedBytes == done.totalBytes && done.machine.error == nil)
        #expect(fixture.manager.node(named: "move-1-log0") == nil)
        #expect(
            !FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("move-1-log0.img").path))
        // Every phase was announced, in order, and the last one persisted.
        let phases = fixture.engine.events.events(after: mark).filter { $0.kind == .jobPhase }.map(\.detail)
        #expect(phases == ["move-1 starting", "move-1 syncing", "move-1 finishing", "move-1 completed"])
        let store = try #require(fixture.store as? InMemoryStateStore)
        let saved = store.changes.compactMap { change -> MoveJob? in
            if case .jobChanged(let job) = change { return job }
            return nil
        }
        #expect(saved.last?.machine.phase == .completed)
        // A second move of the same device (now on new) back to old.
        let back = try await jobs.startMove(device: "d", from: "new", to: "old", regionSize: 1024)
        #expect(back.id == "move-2")
        #expect(await Self.phase(.completed, of: "move-2", fixture, after: mark)?.device == "d")
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear old 0"])
        #expect(try fixture.fileBytes("old", offset: 0, count: 2048 * 512).allSatisfy { $0 == 0x41 })
    }

    @Test("cancel mid-way: the device is back on old with every write made during the move")
    func cancel() async throws {
        let (fixture, jobs, service) = try await Self.setUp()
        defer { service.cancel() }
        let mark = fixture.engine.events.lastSeq
        // 1 byte per second: the first 64 KiB region is copied, the next waits for hours.
        _ = try await jobs.startMove(device: "d", from: "old", to: "new", regionSize: 128, maxBytesPerSecond: 1)
        #expect(await Self.phase(.syncing, of: "move-1", fixture, after: mark) != nil)
        let device = try fixture.manager.device(named: "d")
        #expect(device.liveTable?.targets.first?.target is MirrorTarget)
        #expect(try await fixture.write(device, sector: 0, sectors: 8, byte: 0x51) == nil)
        #expect(try await fixture.write(device, sector: 1024, sectors: 8, byte: 0x52) == nil)
        #expect(try await jobs.pause("move-1").machine.paused)
        #expect((device.liveTable?.targets.first?.target as? MirrorTarget)?.isFrozen == true)
        #expect(try await jobs.throttle("move-1", maxBytesPerSecond: 2).machine.rate == 2)
        #expect(try jobs.cancel("move-1").machine.phase == .cancelling)
        #expect(await Self.phase(.cancelled, of: "move-1", fixture, after: mark) != nil)
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear old 1024"])
        #expect(try fixture.fileBytes("old", offset: 1024 * 512, count: 4096).allSatisfy { $0 == 0x51 })
        #expect(try fixture.fileBytes("old", offset: 2048 * 512, count: 4096).allSatisfy { $0 == 0x52 })
        #expect(fixture.manager.node(named: "move-1-log0") == nil)
        #expect(throws: MapperError.self) { try jobs.cancel("move-1") }
        #expect(throws: MapperError.self) { try jobs.job("move-9") }
    }

    @Test("refused: an unknown device or backend, a device already moving, a destination too small")
    func refused() async throws {
        let (fixture, jobs, service) = try await Self.setUp()
        defer { service.cancel() }
        try await fixture.backend("tiny", sectors: 1024)
        func errno(_ body: () async throws -> MoveJob) async -> Errno? {
            do {
                _ = try await body()
                return nil
            } catch {
                return (error as? MapperError)?.errno
            }
        }
        #expect(await errno { try await jobs.startMove(device: "x", from: "old", to: "new") } == .ENOENT)
        #expect(await errno { try await jobs.startMove(device: "d", from: "old", to: "nowhere") } == .EINVAL)
        #expect(await errno { try await jobs.startMove(device: "d", from: "old", to: "tiny") } == .EINVAL)
        #expect(await errno { try await jobs.startMove(device: "d", from: "new", to: "old") } == .EINVAL)
        _ = try await jobs.startMove(device: "d", from: "old", to: "new", maxBytesPerSecond: 1)
        #expect(await errno { try await jobs.startMove(device: "d", from: "old", to: "new") } == .EBUSY)
    }

    @Test("a job taken up by a new manager (a restart) goes on from where its log is and completes")
    func restart() async throws {
        let (fixture, jobs, service) = try await Self.setUp()
        let mark = fixture.engine.events.lastSeq
        _ = try await jobs.startMove(device: "d", from: "old", to: "new", regionSize: 128, maxBytesPerSecond: 1)
        #expect(await Self.phase(.syncing, of: "move-1", fixture, after: mark) != nil)
        service.cancel()
        _ = try? await service.value
        // The new server's manager, from the persisted record, with the rate lifted.
        var saved = try jobs.job("move-1")
        _ = try saved.machine.throttle(0)
        let again = JobManager(manager: fixture.manager, logs: fixture.moveLogs)
        again.restore([saved])
        let running = Task { try await again.run() }
        defer { running.cancel() }
        #expect(await Self.phase(.completed, of: "move-1", fixture, after: mark) != nil)
        #expect(try fixture.manager.device(named: "d").liveTable?.lines.map(\.text) == ["0 2048 linear new 0"])
        #expect(try fixture.fileBytes("new", offset: 0, count: 2048 * 512).allSatisfy { $0 == 0x41 })
        // New jobs are numbered after the restored ones.
        #expect(try await again.startMove(device: "d", from: "new", to: "old").id == "move-2")
    }

    @Test("on a shared store: numbers from the store, core logs (no log backend), and a job restored twice runs once")
    func sharedStore() async throws {
        let numbers = Mutex(40)
        let (fixture, jobs, service) = try await Self.setUp(
            nextNumber: {
                numbers.withLock { number in
                    number += 1
                    return number
                }
            }, coreLogs: true)
        defer { service.cancel() }
        let device = try fixture.manager.device(named: "d")
        let mark = fixture.engine.events.lastSeq
        let job = try await jobs.startMove(device: "d", from: "old", to: "new", regionSize: 128, maxBytesPerSecond: 1)
        #expect(job.id == "move-41" && job.coreLogs == true)
        #expect(await Self.phase(.syncing, of: "move-41", fixture, after: mark) != nil)
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 mirror core 1 128 2 old 1024 new 0 1 handle_errors"])
        #expect(fixture.manager.node(named: "move-41-log0") == nil)
        // Restoring a job the manager runs already (a claim of a device it serves) changes nothing.
        jobs.restore([try jobs.job("move-41")])
        #expect(jobs.jobs.map(\.id) == ["move-41"])
        _ = try await jobs.throttle("move-41", maxBytesPerSecond: 0)
        #expect(await Self.phase(.completed, of: "move-41", fixture, after: mark) != nil)
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear new 0"])
        #expect(try fixture.fileBytes("new", offset: 0, count: 2048 * 512).allSatisfy { $0 == 0x41 })
        // The next job takes the store's next number, whatever this manager numbered before.
        #expect(try await jobs.startMove(device: "d", from: "new", to: "old").id == "move-42")
    }

    @Test("a server stopping during a swap does not fail the job: it stays in its phase for the next start")
    func shutdownDuringSwap() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("new", sectors: 4096)
        // `slow` holds the device's I/O: the move's noflush suspend waits for it.
        try await fixture.device("slow", table: "0 2048 test")
        let leg = try #require(fixture.controlled.instance(at: 0))
        let device = try await fixture.device("d", table: "0 2048 linear slow 0")
        let bio = fixture.writeBio(sector: 0, sectors: 8, byte: 0x61)
        try device.submit(bio)
        await leg.waitForHeld(1)
        let jobs = JobManager(manager: fixture.manager, logs: fixture.moveLogs)
        let service = Task { try await jobs.run() }
        let mark = fixture.engine.events.lastSeq
        _ = try await jobs.startMove(device: "d", from: "slow", to: "new")
        #expect(await fixture.waitForEvent(.suspendWaiting, after: mark)?.device == "d")
        // The server stops: the runner's task is cancelled, which interrupts the suspend.
        service.cancel()
        _ = try? await service.value
        let job = try jobs.job("move-1")
        #expect(job.machine.phase == .starting && job.machine.error == nil, "\(job.machine)")
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear slow 0"])
        leg.endAll(.ok)
        #expect(await bio.wait() == nil)
    }

    /// A device `mp` of 2,048 sectors: a multipath over p1, p2 to `old` (queueing), filled
    /// with 0x41, with both paths failed, a write of 0x5b at sector 16 held in its queue, and
    /// a move to `new` syncing (since `mark`).
    static func multipathSetUp() async throws -> (
        EngineFixture, JobManager, Task<Void, any Error>, Bio, MappedDevice, mark: UInt64
    ) {
        let fixture = try EngineFixture()
        try await fixture.backend("old", sectors: 4096)
        try await fixture.backend("new", sectors: 4096)
        for path in ["p1", "p2"] { try await fixture.manager.createPath(name: path, backend: "old") }
        let device = try await fixture.device(
            "mp", table: "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1")
        #expect(try await fixture.write(device, sector: 0, sectors: 2048, byte: 0x41) == nil)
        for path in ["p1", "p2"] { try await fixture.manager.failPath(named: path) }
        let bio = fixture.writeBio(sector: 16, sectors: 8, byte: 0x5b)
        try device.submit(bio)
        #expect(device.info.io.queued == 1)
        let jobs = JobManager(manager: fixture.manager, logs: fixture.moveLogs)
        let service = Task { try await jobs.run() }
        let mark = fixture.engine.events.lastSeq
        _ = try await jobs.startMove(device: "mp", from: "old", to: "new", regionSize: 128)
        #expect(await Self.phase(.syncing, of: "move-1", fixture, after: mark) != nil)
        return (fixture, jobs, service, bio, device, mark)
    }

    static let multipathLine = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"

    @Test("a multipath device with every path failed moves: the held write stays held, then lands once a path is back")
    func multipathMove() async throws {
        let (fixture, jobs, service, bio, device, mark) = try await Self.multipathSetUp()
        defer { service.cancel() }
        #expect(
            device.liveTable?.lines.map(\.text) == [
                "0 2048 mirror disk 2 move-1-log0 128 2 move-1-src0 0 new 0 1 handle_errors"
            ])
        let holder = try fixture.manager.device(named: "move-1-src0")
        #expect(holder.liveTable?.lines.map(\.text) == [Self.multipathLine])
        // The job finds both by name: neither may be renamed while it runs.
        for name in ["mp", "move-1-src0"] {
            await #expect {
                try await fixture.manager.renameDevice(named: name, to: "elsewhere")
            } throws: { ($0 as? MapperError)?.errno == .EBUSY }
        }
        // The write went through the swap held, and waits in the holder's queue (no path).
        #expect(!bio.state.isFinal && holder.info.io.queued >= 1)
        #expect(try jobs.job("move-1").copiedBytes == 0)
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await bio.wait() == nil)
        #expect(await Self.phase(.completed, of: "move-1", fixture, after: mark) != nil)
        #expect(device.liveTable?.lines.map(\.text) == ["0 2048 linear new 0"])
        #expect(fixture.manager.node(named: "move-1-src0") == nil && fixture.manager.node(named: "move-1-log0") == nil)
        try await fixture.manager.renameDevice(named: "mp", to: "moved")
        let moved = try fixture.fileBytes("new", offset: 0, count: 2048 * 512)
        #expect(moved[0..<(16 * 512)].allSatisfy { $0 == 0x41 })
        #expect(moved[(16 * 512)..<(24 * 512)].allSatisfy { $0 == 0x5b })
        #expect(moved[(24 * 512)...].allSatisfy { $0 == 0x41 })
    }

    @Test("cancelled while no path is left: the device is back on its multipath with the write still held")
    func multipathCancel() async throws {
        let (fixture, jobs, service, bio, device, mark) = try await Self.multipathSetUp()
        defer { service.cancel() }
        // A second write, made while the mirror is in place, waits in the holder too.
        let second = fixture.writeBio(sector: 1024, sectors: 8, byte: 0x5c)
        try device.submit(second)
        _ = try jobs.cancel("move-1")
        #expect(await Self.phase(.cancelled, of: "move-1", fixture, after: mark) != nil)
        #expect(device.liveTable?.lines.map(\.text) == [Self.multipathLine])
        #expect(fixture.manager.node(named: "move-1-src0") == nil)
        #expect(device.info.io.queued == 2 && bio.state == .queued && second.state == .queued)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await bio.wait() == nil)
        #expect(await second.wait() == nil)
        #expect(try fixture.fileBytes("old", offset: 16 * 512, count: 4096).allSatisfy { $0 == 0x5b })
        #expect(try fixture.fileBytes("old", offset: 1024 * 512, count: 4096).allSatisfy { $0 == 0x5c })
    }
}
