import MapperCore
import MapperTestSupport
import Testing

@Suite("Suspend and resume")
struct SuspendTests {
    private func single() async throws -> (EngineFixture, MappedDevice, ControlledTarget) {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 64 test")
        return (fixture, device, try #require(fixture.controlled.instance(at: 0)))
    }

    @Test("suspend and resume are idempotent and call the hooks in order")
    func idempotent() async throws {
        let (_, device, target) = try await single()
        try await device.resume()
        try await device.suspend()
        try await device.suspend()
        #expect(device.isSuspended)
        try await device.resume()
        try await device.resume()
        #expect(!device.isSuspended)
        #expect(target.hooks == ["resume", "presuspend", "postsuspend", "resume"])
    }

    @Test("bios submitted while suspended are deferred, then re-issued in order at resume")
    func deferredInOrder() async throws {
        let (fixture, device, target) = try await single()
        try await device.suspend()
        let bios = (0..<3).map { fixture.readBio(sector: UInt64($0), sectors: 1) }
        for bio in bios { try device.submit(bio) }
        #expect(bios.allSatisfy { $0.state == .deferred })
        #expect(device.info.io.deferred == 3)
        #expect(target.held.isEmpty)
        try await device.resume()
        #expect(target.held.map(\.bio.id) == bios.map(\.id))
        target.endAll(.ok)
        for bio in bios { #expect(await bio.wait() == nil) }
    }

    @Test("a flush suspend waits for in-flight I/O")
    func flushSuspendWaitsForPending() async throws {
        let (fixture, device, target) = try await single()
        let bio = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(bio)
        let suspend = Task { try await device.suspend() }
        await target.waitForHook("presuspend")
        #expect(device.info.suspending)
        target.endAll(.ok)
        try await suspend.value
        #expect(device.isSuspended)
        #expect(await bio.wait() == nil)
    }

    @Test("queued bios fail with EIO on a suspend without noflush")
    func queuedFailOnFlushSuspend() async throws {
        let (fixture, device, target) = try await single()
        target.setRequeueOnPresuspend(true)
        let bio = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(bio)
        try await device.suspend()
        #expect(await bio.wait() == .EIO)
        #expect(device.pushbackBios.isEmpty && device.deferredBios.isEmpty)
    }

    @Test("pushed-back bios go ahead of bios that arrived during the noflush suspend")
    func pushbackAheadOfDeferred() async throws {
        let (fixture, device, target) = try await single()
        let old = fixture.readBio(sector: 0, sectors: 1)
        let inflight = fixture.readBio(sector: 1, sectors: 1)
        try device.submit(old)
        try device.submit(inflight)
        let mark = fixture.engine.events.lastSeq
        let suspend = Task { try await device.suspend(noflush: true) }
        await fixture.waitForEvent(.suspendWaiting, after: mark)
        #expect(device.isBlockingIO)
        let late = fixture.readBio(sector: 2, sectors: 1)
        try device.submit(late)
        #expect(late.state == .deferred)
        target.end(.requeue, at: 0)
        target.endAll(.requeue)
        try await suspend.value
        #expect(device.deferredBios.map(\.id) == [old.id, inflight.id, late.id])
        #expect(device.pushbackBios.isEmpty)
        try await device.resume()
        target.endAll(.ok)
        for bio in [old, inflight, late] { #expect(await bio.wait() == nil) }
    }

    @Test("a timed-out noflush suspend returns EINTR and keeps the device active")
    func interruptedByTimeout() async throws {
        let (fixture, device, target) = try await single()
        target.setRequeueOnPresuspend(false)
        let stuck = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(stuck)
        let error = await #expect(throws: MapperError.self) {
            try await device.suspend(noflush: true, timeout: .milliseconds(20))
        }
        #expect(error?.errno == .EINTR)
        #expect(!device.isSuspended && !device.isNoflushSuspending && !device.info.suspending)
        // The bio that had not returned asks for requeue later: EIO, never stranded.
        target.endAll(.requeue)
        #expect(await stuck.wait() == .EIO)
        #expect(device.pushbackBios.isEmpty)
        // The device serves I/O again.
        let next = fixture.readBio(sector: 1, sectors: 1)
        try device.submit(next)
        #expect(target.held.count == 1)
        target.endAll(.ok)
        #expect(await next.wait() == nil)
    }

    @Test("an interrupted noflush suspend re-issues bios already pushed back; late requeues get EIO")
    func interruptedReissuesPushback() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 test\n8 8 test")
        let queued = try #require(fixture.controlled.instance(at: 0))
        let slow = try #require(fixture.controlled.instance(at: 8))
        let pushed = fixture.readBio(sector: 0, sectors: 1)
        let notReturned = fixture.readBio(sector: 8, sectors: 1)
        try device.submit(pushed)
        try device.submit(notReturned)
        queued.setRequeueOnPresuspend(true)
        let suspend = Task { try await device.suspend(noflush: true) }
        await slow.waitForHook("presuspend")
        #expect(device.cancelSuspend())
        let error = await #expect(throws: MapperError.self) { try await suspend.value }
        #expect(error?.errno == .EINTR)
        // `pushed` did not return: it was re-issued to its target.
        #expect(queued.held.map(\.bio.id) == [pushed.id])
        #expect(pushed.state == .queued)
        slow.endAll(.requeue)
        #expect(await notReturned.wait() == .EIO)
        queued.endAll(.ok)
        #expect(await pushed.wait() == nil)
    }

    @Test("cancelling the suspending task interrupts the suspend")
    func interruptedByCancellation() async throws {
        let (fixture, device, target) = try await single()
        try device.submit(fixture.readBio(sector: 0, sectors: 1))
        let suspend = Task { try await device.suspend() }
        await target.waitForHook("presuspend")
        suspend.cancel()
        let error = await #expect(throws: MapperError.self) { try await suspend.value }
        #expect(error?.errno == .EINTR)
        #expect(!device.isSuspended)
        target.endAll(.ok)
    }

    @Test("a failure after presuspend clears noflushSuspending and re-issues what was pushed back")
    func failurePointAfterPresuspend() async throws {
        let (fixture, device, target) = try await single()
        target.setRequeueOnPresuspend(true)
        let bio = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(bio)
        try fixture.engine.failurePoints.arm(FailurePoints.suspendAfterPresuspend, errno: .ENOMEM)
        let error = await #expect(throws: MapperError.self) { try await device.suspend(noflush: true) }
        #expect(error?.errno == .ENOMEM)
        #expect(error?.message.contains("queue_if_no_path stays off") == true)
        #expect(!device.isNoflushSuspending && !device.isSuspended)
        #expect(device.pushbackBios.isEmpty && device.deferredBios.isEmpty)
        #expect(target.held.map(\.bio.id) == [bio.id])
        #expect(fixture.engine.events.events(after: 0).contains { $0.kind == .suspendFailed })
        target.endAll(.ok)
        #expect(await bio.wait() == nil)
        // Armed once: the next suspend works.
        try await device.suspend(noflush: true)
        #expect(device.isSuspended)
    }

    @Test("a failure after presuspend without noflush returns the error and hands nothing back")
    func failurePointWithoutNoflush() async throws {
        let (fixture, device, _) = try await single()
        try fixture.engine.failurePoints.arm(FailurePoints.suspendAfterPresuspend, errno: .EIO)
        let error = await #expect(throws: MapperError.self) { try await device.suspend() }
        #expect(error?.errno == .EIO)
        #expect(!device.isSuspended && !device.isBlockingIO)
    }

    @Test("resume with no live table is EINVAL and the device stays suspended")
    func resumeWithoutLiveTable() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.manager.createDevice(name: "empty")
        #expect(device.isSuspended)
        let error = await #expect(throws: MapperError.self) { try await device.resume() }
        #expect(error?.errno == .EINVAL)
        #expect(device.isSuspended)
    }

    @Test("resume with a staged table suspends (noflush), swaps and re-issues through the new table")
    func resumeSwapsStagedTable() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("dm0", table: "0 64 test")
        let old = try #require(fixture.controlled.instance(at: 0))
        old.setRequeueOnPresuspend(true)
        let bio = fixture.writeBio(sector: 3, sectors: 2, byte: 0xAB)
        try device.submit(bio)
        try await fixture.manager.load(device: "dm0", text: "0 64 linear disk 0")
        try await device.resume(noflush: true)
        #expect(await bio.wait() == nil)
        #expect(try fixture.fileBytes("disk", offset: 3 * 512, count: 1024) == [UInt8](repeating: 0xAB, count: 1024))
        #expect(device.liveTable?.text == "0 64 linear disk 0\n")
        #expect(device.inactiveTable == nil)
        #expect(old.hooks.suffix(2) == ["postsuspend", "destroy"])
    }

    @Test("a failed swap leaves the device suspended with its I/O held")
    func failedSwapKeepsSuspended() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("dm0", table: "0 64 linear disk 0")
        try await device.suspend()
        let bio = fixture.writeBio(sector: 0, sectors: 1, byte: 1)
        try device.submit(bio)
        try await fixture.manager.load(device: "dm0", text: "0 64 zero")
        try fixture.engine.failurePoints.arm(FailurePoints.resumeSwap, errno: .ENOMEM)
        let error = await #expect(throws: MapperError.self) { try await device.resume() }
        #expect(error?.errno == .ENOMEM)
        #expect(device.isSuspended)
        #expect(device.deferredBios.map(\.id) == [bio.id])
        try await device.resume()
        #expect(await bio.wait() == nil)
        #expect(device.liveTable?.text == "0 64 zero\n")
    }

    @Test("a bio re-issued at resume beyond a smaller new table ends with EIO")
    func reissueBeyondNewTable() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 64 zero")
        try await device.suspend()
        let bio = fixture.readBio(sector: 40, sectors: 8)
        try device.submit(bio)
        try await fixture.manager.load(device: "dm0", text: "0 32 zero")
        try await device.resume()
        #expect(await bio.wait() == .EIO)
    }

    @Test("the journal sees pushback moved to the head of deferred")
    func journalOrder() async throws {
        let (fixture, device, target) = try await single()
        target.setRequeueOnPresuspend(false)
        let pushed = fixture.readBio(sector: 0, sectors: 1)
        try device.submit(pushed)
        let mark = fixture.engine.events.lastSeq
        let suspend = Task { try await device.suspend(noflush: true) }
        await fixture.waitForEvent(.suspendWaiting, after: mark)
        #expect(device.isBlockingIO)
        let deferred = fixture.readBio(sector: 5, sectors: 1)
        try device.submit(deferred)
        target.endAll(.requeue)
        try await suspend.value
        let entries = fixture.journal.entries.filter {
            switch $0 {
            case .queued(let bio, _, _, _), .dequeued(let bio, _, _): return bio == pushed.id || bio == deferred.id
            default: return false
            }
        }
        #expect(
            entries == [
                .queued(bio: pushed.id, device: "dm0", location: .targetQueue(0), order: 1),
                .queued(bio: deferred.id, device: "dm0", location: .deferred, order: 2),
                .dequeued(bio: pushed.id, device: "dm0", location: .targetQueue(0)),
                .queued(bio: pushed.id, device: "dm0", location: .pushback, order: 1),
                .dequeued(bio: pushed.id, device: "dm0", location: .pushback),
                .queued(bio: pushed.id, device: "dm0", location: .deferred, order: -1),
            ])
        #expect(pushed.isDurablyQueued && deferred.isDurablyQueued)
        try await device.resume()
        #expect(target.held.map(\.bio.id) == [pushed.id, deferred.id])
        target.endAll(.ok)
        #expect(await pushed.wait() == nil)
        #expect(fixture.journal.entries.contains(.ended(bio: pushed.id, device: "dm0", error: nil)))
    }
}
