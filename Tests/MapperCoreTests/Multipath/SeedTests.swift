import MapperCore
import MapperTestSupport
import Testing

/// The seed's ten tests (SEMANTICS §8), each as observable behaviour, data checked in the
/// backend file.
@Suite("Seed: noflush pushback")
struct SeedTests {
    @Test("1. I/O succeeds when valid paths exist")
    func ioSucceedsWithValidPaths() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        for round in 0..<4 {
            #expect(try await fixture.engine.write(device, sector: UInt64(round * 8), sectors: 8, byte: 0x11) == nil)
        }
        #expect(try fixture.landed(sector: 0, sectors: 32, byte: 0x11))
        #expect(try await fixture.engine.read(device, sector: 8, sectors: 8) == [UInt8](repeating: 0x11, count: 4096))
    }

    @Test("2. I/O fails with EIO without valid paths when queue_if_no_path is not set")
    func ioFailsWithoutPaths() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: false)
        try await fixture.failAll()
        #expect(try await fixture.engine.write(device, sector: 0, sectors: 8, byte: 0x22) == .EIO)
        #expect(try fixture.landed(sector: 0, byte: 0))
    }

    @Test("3. I/O is queued in the target without valid paths when queue_if_no_path is set")
    func ioIsQueued() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 16, byte: 0x33)
        #expect(bio.state == .queued && bio.isDurablyQueued)
        #expect(device.info.io.queued == 1)
        #expect(try fixture.multipath(device).structuredStatus.queueSize == 1)
        #expect(try fixture.landed(sector: 16, byte: 0))
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 16, byte: 0x33))
    }

    @Test("4. queued I/O fails with EIO on a suspend without noflush")
    func queuedFailsOnFlushSuspend() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 0, byte: 0x44)
        try await device.suspend()
        #expect(await bio.wait() == .EIO)
        #expect(device.info.io == .init(inFlight: 0, queued: 0, pushback: 0, deferred: 0))
    }

    @Test("4b. queued I/O spanning two multipath targets fails with EIO on a flush suspend")
    func spanningQueuedFailsOnFlushSuspend() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.spanningDevice(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 1020, sectors: 8, byte: 0x45)
        #expect(try fixture.multipath(device, at: 0).structuredStatus.queueSize == 1)
        #expect(try fixture.multipath(device, at: 1).structuredStatus.queueSize == 1)
        try await device.suspend()
        #expect(await bio.wait() == .EIO)
    }

    @Test("5. queued I/O is flushed from the target but does not return on a noflush suspend")
    func queuedPushedBackOnNoflushSuspend() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 0, byte: 0x55)
        try await device.suspend(noflush: true)
        #expect(bio.ended == nil)
        #expect(bio.state == .deferred)
        #expect(try fixture.multipath(device).structuredStatus.queueSize == 0)
        #expect(device.info.io == .init(inFlight: 0, queued: 0, pushback: 0, deferred: 1, heldBytes: 4096))
    }

    @Test("6. on resume without path recovery the pushed-back I/O is queued in the target again")
    func resumeWithoutRecoveryQueuesAgain() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 0, byte: 0x66)
        try await device.suspend(noflush: true)
        try await device.resume()
        #expect(bio.state == .queued)
        #expect(try fixture.multipath(device).structuredStatus.queueSize == 1)
        #expect(try fixture.multipath(device).structuredStatus.queueIfNoPath)
        #expect(bio.ended == nil)
    }

    @Test("7a. pushed-back I/O succeeds when resume follows path recovery")
    func resumeAfterPathRecovery() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 24, byte: 0x77)
        try await device.suspend(noflush: true)
        // Messages are allowed while suspended.
        #expect(try await device.message("reinstate_path p1") == "")
        #expect(bio.ended == nil)
        try await device.resume()
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 24, byte: 0x77))
    }

    @Test("7b. pushed-back I/O succeeds when resume follows a table load")
    func resumeAfterTableLoad() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 32, byte: 0x78)
        try await device.suspend(noflush: true)
        try await fixture.manager.load(device: "mp", text: MultipathFixture.table(queue: true, paths: ["p3", "p4"]))
        try await device.resume()
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 32, byte: 0x78))
        #expect(try fixture.multipath(device).paths.map(\.name) == ["p3", "p4"])
    }

    @Test("8. queued I/O succeeds on a noflush resume after a table load")
    func noflushResumeAfterLoad() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 40, byte: 0x88)
        try await fixture.manager.load(device: "mp", text: MultipathFixture.table(queue: true, paths: ["p3"]))
        try await device.resume(noflush: true)
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 40, byte: 0x88))
        #expect(!device.isSuspended)
    }

    @Test("8b. queued I/O spanning two multipath targets succeeds on a noflush resume after a load")
    func spanningNoflushResumeAfterLoad() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.spanningDevice(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 1020, sectors: 8, byte: 0x89)
        #expect(device.info.io.queued == 1)
        try await fixture.manager.load(
            device: "mp",
            text: MultipathFixture.table(queue: true, paths: ["p3"], length: 1024) + "\n"
                + MultipathFixture.table(queue: true, paths: ["p4"], start: 1024, length: 1024))
        try await device.resume(noflush: true)
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 1020, sectors: 8, byte: 0x89))
    }

    @Test("8c. one half fails with EIO, the other is queued: under noflush the requeue supersedes the EIO")
    func requeueSupersedesErrorAcrossTargets() async throws {
        let fixture = try await MultipathFixture()
        // First half: no queueing, path failed → EIO. Second half: queueing, path failed → queued.
        let device = try await fixture.engine.device(
            "mp",
            table: MultipathFixture.table(queue: false, paths: ["p1"], length: 1024) + "\n"
                + MultipathFixture.table(queue: true, paths: ["p2"], start: 1024, length: 1024))
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 1020, sectors: 8, byte: 0x8C)
        #expect(bio.state == .queued)
        try await fixture.manager.load(
            device: "mp",
            text: MultipathFixture.table(queue: true, paths: ["p3"], length: 1024) + "\n"
                + MultipathFixture.table(queue: true, paths: ["p4"], start: 1024, length: 1024))
        try await device.resume(noflush: true)
        // The whole bio was pushed back and re-issued, so both halves landed.
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 1020, sectors: 8, byte: 0x8C))
    }

    @Test("9. a failure after noflushSuspending is set clears it and re-issues what was pushed back")
    func failureAfterNoflushSet() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        try await fixture.failAll()
        let bio = try fixture.submitWrite(device, sector: 0, byte: 0x99)
        try fixture.engine.engine.failurePoints.arm(FailurePoints.suspendAfterPresuspend, errno: .ENOMEM)
        let error = await #expect(throws: MapperError.self) { try await device.suspend(noflush: true) }
        #expect(error?.errno == .ENOMEM)
        #expect(!device.isNoflushSuspending && !device.isSuspended)
        #expect(device.pushbackBios.isEmpty && device.deferredBios.isEmpty)
        // Re-issued with presuspend not undone (queue_if_no_path off, dm): no path → EIO.
        #expect(await bio.wait() == .EIO)
        #expect(try !fixture.multipath(device).structuredStatus.queueIfNoPath)
        // The operator restores queueing with a message.
        _ = try await device.message("queue_if_no_path")
        let next = try fixture.submitWrite(device, sector: 8, byte: 0x9A)
        #expect(next.state == .queued)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await next.wait() == nil)
    }

    @Test("10. interrupted noflush suspend: pushed-back I/O is re-issued, I/O not yet returned gets EIO")
    func interruptedNoflushSuspend() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.spanningDevice(queue: true)
        try await fixture.manager.failPath(named: "p1")
        let pushed = try fixture.submitWrite(device, sector: 0, byte: 0xA1)
        #expect(pushed.state == .queued)
        try await fixture.manager.setFault(path: "p2", .stall)
        let stalled = try fixture.submitWrite(device, sector: 1024, byte: 0xA2)
        let mark = fixture.engine.engine.events.lastSeq
        let suspend = Task { try await device.suspend(noflush: true) }
        await fixture.engine.waitForEvent(.suspendWaiting, after: mark)
        #expect(device.isBlockingIO && device.pushbackBios.count == 1)
        #expect(pushed.state == .pushback && pushed.ended == nil)
        // Path recovery while the suspend waits for the stalled I/O.
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(device.cancelSuspend())
        let error = await #expect(throws: MapperError.self) { try await suspend.value }
        #expect(error?.errno == .EINTR)
        #expect(!device.isSuspended && !device.isNoflushSuspending)
        #expect(await pushed.wait() == nil)
        #expect(try fixture.landed(sector: 0, byte: 0xA1))
        // The stalled I/O now fails on its only path: no requeue any more, EIO.
        try await fixture.manager.setFault(path: "p2", .error)
        #expect(await stalled.wait() == .EIO)
        #expect(device.pushbackBios.isEmpty)
    }
}
