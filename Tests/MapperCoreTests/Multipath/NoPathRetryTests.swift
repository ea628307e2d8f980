import Foundation
@testable import MapperCore
import MapperTestSupport
import Testing

/// multipathd's `no_path_retry` on a multipath device (`queue`, `fail`, N checker intervals).
@Suite("no_path_retry")
struct NoPathRetryTests {
    /// Paths p1, p2 with a 200 ms checker interval (the checker itself is not run: the
    /// interval only times the retries) and a queueing multipath device over them.
    static func setUp(intervalMs: Int = 200) async throws -> (MultipathFixture, MappedDevice) {
        let fixture = try await MultipathFixture(paths: 2)
        for name in ["p1", "p2"] {
            try await fixture.manager.setChecker(path: name, try CheckerConfig(intervalMs: intervalMs, timeoutMs: 1000))
        }
        let device = try await fixture.device(queue: true)
        return (fixture, device)
    }

    @Test("noPathRetry 3 with a 200 ms interval fails held bios with EIO after about 600 ms, and a reinstated path restores queueing")
    func retriesThenFail() async throws {
        let (fixture, device) = try await Self.setUp()
        try await device.setNoPathRetry(.retries(3))
        #expect(device.info.noPathRetry == .retries(3))
        let start = fixture.engine.engine.events.lastSeq
        let failedAt = ContinuousClock.now
        try await fixture.failAll()
        let held = try fixture.submitWrite(device, sector: 0, byte: 7)
        #expect(device.info.io.queued == 1)
        #expect(await fixture.engine.waitForEvent(.multipathQueueingDisabled, after: start) != nil)
        #expect(await held.wait() == .EIO)
        #expect(ContinuousClock.now - failedAt >= .milliseconds(600))
        // No queueing now: a new write fails at once.
        let refused = try fixture.submitWrite(device, sector: 8, byte: 8)
        #expect(await refused.wait() == .EIO)

        let again = fixture.engine.engine.events.lastSeq
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await fixture.engine.waitForEvent(.multipathQueueingRestored, after: again) != nil)
        try await fixture.manager.failPath(named: "p1")
        let queued = try fixture.submitWrite(device, sector: 16, byte: 9)
        #expect(device.info.io.queued == 1)
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await queued.wait() == nil)
        #expect(try fixture.landed(sector: 16, byte: 9))
    }

    @Test("a path back before the retries run out keeps the bios queued and then lands them")
    func pathBackInTime() async throws {
        let (fixture, device) = try await Self.setUp(intervalMs: 60_000)
        try await device.setNoPathRetry(.retries(1))
        try await fixture.failAll()
        let held = try fixture.submitWrite(device, sector: 0, byte: 3)
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await held.wait() == nil)
        #expect(try fixture.landed(sector: 0, byte: 3))
    }

    @Test("fail turns queueing off whatever the table says; queue gives the table's rule back")
    func failAndQueue() async throws {
        let (fixture, device) = try await Self.setUp()
        try await device.setNoPathRetry(.fail)
        try await fixture.failAll()
        let failed = try fixture.submitWrite(device, sector: 0, byte: 1)
        #expect(await failed.wait() == .EIO)
        try await device.setNoPathRetry(.queue)
        let queued = try fixture.submitWrite(device, sector: 0, byte: 2)
        #expect(device.info.io.queued == 1)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await queued.wait() == nil)
        #expect(throws: MapperError.self) { try NoPathRetry("0") }
        #expect(try NoPathRetry("12") == .retries(12))
    }

    @Test("the timer never turns a pushed-back bio into EIO during a noflush suspend")
    func noflushKeepsPushback() async throws {
        let (fixture, device) = try await Self.setUp(intervalMs: 60_000)
        try await device.setNoPathRetry(.retries(1))
        try await fixture.failAll()
        let target = try fixture.multipath(device)
        let generation = target.state.withLock { $0.retryGeneration }
        let held = try fixture.submitWrite(device, sector: 0, byte: 5)
        try await device.suspend(noflush: true)
        #expect(device.info.io.pushback + device.info.io.deferred == 1)
        // The timer runs out while the device is suspended.
        target.noPathRetryExpired(generation, count: 1)
        #expect(!target.state.withLock { $0.disabledByRetry })
        #expect(held.ended == nil)
        try await fixture.manager.reinstatePath(named: "p1")
        try await device.resume(noflush: true)
        #expect(await held.wait() == nil)
        #expect(try fixture.landed(sector: 0, byte: 5))
    }
}
