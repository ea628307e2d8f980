import MapperCore
import MapperTestSupport
import Testing

/// A device stacked on a queueing multipath device (`top` → `mp` → paths): a noflush suspend
/// of `top` takes back what `mp` queued for it, instead of waiting for a path.
@Suite("Stacked pushback", .timeLimit(.minutes(1)))
struct StackedPushbackTests {
    /// `mp` (multipath over p1, p2, queueing, all paths failed) and `top` (linear on `mp`),
    /// with a write of 0x5a at sector 16 held in `mp`'s queue.
    static func setUp() async throws -> (MultipathFixture, top: MappedDevice, mp: MappedDevice, Bio) {
        let fixture = try await MultipathFixture()
        let mp = try await fixture.device(queue: true)
        let top = try await fixture.engine.device("top", table: "0 2048 linear mp 0")
        try await fixture.failAll()
        let bio = try fixture.submitWrite(top, sector: 16, byte: 0x5a)
        #expect(mp.info.io.queued == 1)
        return (fixture, top, mp, bio)
    }

    @Test("the upper noflush suspend ends with the write pushed back to it, not waiting in the lower queue")
    func handedBack() async throws {
        let (fixture, top, mp, bio) = try await Self.setUp()
        // A timeout, not a hang, if the write stayed below.
        try await top.suspend(noflush: true, timeout: .seconds(20))
        #expect(top.info.io.deferred == 1 && top.info.io.inFlight == 0)
        #expect(mp.info.io == .init(inFlight: 0, queued: 0, pushback: 0, deferred: 0))
        #expect(try fixture.multipath(mp).structuredStatus.queueSize == 0)
        #expect(bio.state == .deferred)
        // Resumed on the same table: the write goes down again and waits in mp for a path.
        try await top.resume()
        #expect(mp.info.io.queued == 1)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await bio.wait() == nil)
        #expect(try fixture.landed(sector: 16, byte: 0x5a))
    }

    @Test("a new table swapped in under the held write lands it there, and the lower device is left empty")
    func swappedElsewhere() async throws {
        let (fixture, top, mp, bio) = try await Self.setUp()
        try await fixture.engine.backend("other", sectors: 4096)
        try await fixture.manager.load(device: "top", text: "0 2048 linear other 0")
        try await top.resume(noflush: true)
        #expect(await bio.wait() == nil)
        #expect(try fixture.engine.fileBytes("other", offset: 16 * 512, count: 4096).allSatisfy { $0 == 0x5a })
        #expect(mp.info.io.queued == 0)
        try await fixture.manager.removeDevice(named: "mp")
    }

    @Test("a flush suspend of the upper device leaves the write queued below (no pushback without noflush)")
    func flushSuspendWaits() async throws {
        let (fixture, top, mp, bio) = try await Self.setUp()
        await #expect(throws: MapperError.self) { try await top.suspend(timeout: .milliseconds(50)) }
        #expect(mp.info.io.queued == 1 && !top.info.suspended)
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await bio.wait() == nil)
    }

    @Test("the lower device's own I/O stays queued while the upper one is pushed back")
    func othersStay() async throws {
        let (fixture, top, mp, _) = try await Self.setUp()
        let own = try fixture.submitWrite(mp, sector: 64, byte: 0x77)
        #expect(mp.info.io.queued == 2)
        try await top.suspend(noflush: true, timeout: .seconds(20))
        #expect(mp.info.io.queued == 1 && own.state == .queued)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await own.wait() == nil)
        try await top.resume()
    }
}
