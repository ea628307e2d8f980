import MapperCore
import MapperTestSupport
import Testing

@Suite("dec_pending aggregation")
struct AggregationTests {
    @Test(
        "precedence of clone outcomes",
        arguments: [
            (CloneOutcome.ok, CloneOutcome.ok, false, CloneOutcome.ok),
            (.ok, .error(.EIO), false, .error(.EIO)),
            (.error(.EIO), .ok, false, .error(.EIO)),
            (.error(.EIO), .error(.ENOSPC), false, .error(.ENOSPC)),
            (.error(.EIO), .requeue, false, .requeue),
            (.error(.EIO), .requeue, true, .requeue),
            (.requeue, .error(.EIO), true, .requeue),
            (.requeue, .error(.EIO), false, .error(.EIO)),
            (.requeue, .ok, true, .requeue),
            (.ok, .requeue, false, .requeue),
        ])
    func precedence(current: CloneOutcome, next: CloneOutcome, noflush: Bool, expected: CloneOutcome) {
        #expect(current.merging(next, noflushSuspending: noflush) == expected)
    }

    /// Three `test` targets; a bio from sector 4 to 20 spans all three.
    private func threeTargets() async throws -> (EngineFixture, MappedDevice, [ControlledTarget]) {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 test\n8 8 test\n16 8 test")
        let targets = try [0, 8, 16].map { try #require(fixture.controlled.instance(at: UInt64($0))) }
        return (fixture, device, targets)
    }

    @Test("a bio is split into one clone per target piece")
    func splitsAcrossThreeTargets() async throws {
        let (fixture, device, targets) = try await threeTargets()
        let bio = fixture.readBio(sector: 4, sectors: 16)
        try device.submit(bio)
        let clones = targets.map(\.held)
        #expect(clones.map { $0.map(\.sector) } == [[4], [8], [16]])
        #expect(clones.map { $0.map(\.sectors) } == [[4], [8], [4]])
        #expect(clones.map { $0.map(\.bufferOffset) } == [[0], [2048], [6144]])
        #expect(clones.map { $0.map(\.targetOffset) } == [[4], [0], [0]])
        #expect(device.info.io.queued == 1)
        for target in targets { target.endAll(.ok) }
        #expect(await bio.wait() == nil)
        #expect(device.info.io == .init(inFlight: 0, queued: 0, pushback: 0, deferred: 0))
    }

    @Test("the last error wins when nothing requeues")
    func lastErrorWins() async throws {
        let (fixture, device, targets) = try await threeTargets()
        let bio = fixture.readBio(sector: 4, sectors: 16)
        try device.submit(bio)
        targets[0].endAll(.error(.ENOSPC))
        targets[1].endAll(.ok)
        targets[2].endAll(.error(.EIO))
        #expect(await bio.wait() == .EIO)
    }

    @Test("requeue without a noflush suspend ends the bio with EIO")
    func requeueWithoutNoflushIsEIO() async throws {
        let (fixture, device, targets) = try await threeTargets()
        let bio = fixture.readBio(sector: 4, sectors: 16)
        try device.submit(bio)
        targets[0].endAll(.requeue)
        targets[1].endAll(.ok)
        targets[2].endAll(.ok)
        #expect(await bio.wait() == .EIO)
        #expect(device.pushbackBios.isEmpty)
    }

    @Test("under a noflush suspend requeue supersedes an error: the whole bio is pushed back")
    func requeueSupersedesErrorDuringNoflush() async throws {
        let (fixture, device, targets) = try await threeTargets()
        let bio = fixture.readBio(sector: 4, sectors: 16)
        try device.submit(bio)
        targets[1].endAll(.error(.EIO))
        for target in [targets[0], targets[2]] { target.setRequeueOnPresuspend(true) }
        try await device.suspend(noflush: true)
        #expect(bio.state == .deferred)
        #expect(device.deferredBios.map(\.id) == [bio.id])
        #expect(device.info.io.pushback == 0)
        // Re-issued whole at resume: all three targets see it again.
        try await device.resume()
        #expect(targets.map(\.held.count) == [1, 1, 1])
        for target in targets { target.endAll(.ok) }
        #expect(await bio.wait() == nil)
    }
}

@Suite("dec_pending during a noflush suspend")
struct NoflushAggregationTests {
    @Test("an error after a requeue does not override it while noflushSuspending")
    func errorDoesNotOverrideRequeue() async throws {
        let fixture = try EngineFixture()
        let device = try await fixture.device("dm0", table: "0 8 test\n8 8 test")
        let first = try #require(fixture.controlled.instance(at: 0))
        let second = try #require(fixture.controlled.instance(at: 8))
        let bio = fixture.readBio(sector: 0, sectors: 16)
        try device.submit(bio)
        first.setRequeueOnPresuspend(true)
        let suspend = Task { try await device.suspend(noflush: true) }
        // Both presuspends ran: noflushSuspending is set until pending reaches 0.
        await second.waitForHook("presuspend")
        second.endAll(.error(.EIO))
        try await suspend.value
        #expect(bio.state == .deferred)
        #expect(bio.error == nil)
    }
}
