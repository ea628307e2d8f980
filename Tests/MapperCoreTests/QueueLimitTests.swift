import MapperCore
import MapperTestSupport
import Testing

@Suite("queue limits")
struct QueueLimitTests {
    static let limits = QueueLimits(deviceBytes: 8192, totalBytes: 12288)

    @Test(
        "admission: only a device that holds I/O refuses, and only past a limit",
        arguments: [
            // bytes, holding, device held, total held, admitted
            (4096, false, 0, 0, true),
            (4096, false, 0, 1 << 20, true),  // holds nothing: always admitted
            (4096, true, 4096, 4096, true),  // exactly at the device limit
            (4096, true, 8192, 8192, false),  // past the device limit
            (4096, true, 0, 12288, false),  // past the total
            (4096, true, 4096, 8192, true),  // exactly at the total
            (0, true, 8192, 12288, true),  // a flush carries no bytes
        ])
    func admission(bytes: Int, holding: Bool, deviceHeld: Int, totalHeld: Int, admitted: Bool) {
        #expect(
            QueueAdmission.admits(
                bytes: bytes, deviceHolding: holding, deviceHeld: deviceHeld, totalHeld: totalHeld,
                limits: Self.limits) == admitted)
    }

    @Test("at the device limit a new write is refused with EAGAIN; held bios are untouched and land later")
    func deviceLimit() async throws {
        let fixture = try await MultipathFixture(queueLimits: Self.limits)
        let device = try await fixture.device(queue: true)
        for path in ["p1", "p2"] { try await fixture.manager.failPath(named: path) }
        let held = (0..<2).map { fixture.engine.writeBio(sector: UInt64($0 * 8), sectors: 8, byte: UInt8($0 + 1)) }
        for bio in held { try device.submit(bio) }
        #expect(held.allSatisfy { $0.state == .queued })
        let refused = fixture.engine.writeBio(sector: 16, sectors: 8, byte: 3)
        let error = #expect(throws: MapperError.self) { try device.submit(refused) }
        #expect(error?.errno == .EAGAIN)
        #expect(error?.message.contains("queue limits reached") == true)
        #expect(device.info.io == .init(inFlight: 0, queued: 2, pushback: 0, deferred: 0, heldBytes: 8192, refused: 1))
        #expect(fixture.engine.engine.heldIO.bytes == 8192)
        // A flush is still admitted (it queues too, carrying no bytes).
        let flush = fixture.manager.makeBio(op: .flush, sector: 0, sectors: 0, buffer: nil)
        try device.submit(flush)
        try await fixture.manager.reinstatePath(named: "p1")
        for bio in held + [flush] { #expect(await bio.wait() == nil) }
        #expect(device.info.io.heldBytes == 0 && fixture.engine.engine.heldIO.bytes == 0)
        #expect(try await fixture.engine.write(device, sector: 16, sectors: 8, byte: 3) == nil)
        #expect(try fixture.engine.fileBytes("disk", offset: 0, count: 4096) == [UInt8](repeating: 1, count: 4096))
    }

    @Test("deferred bios count too, and pushed-back bios are never refused, even past the limit")
    func deferredAndPushback() async throws {
        let fixture = try await MultipathFixture(queueLimits: QueueLimits(deviceBytes: 4096, totalBytes: 1 << 30))
        let device = try await fixture.device(queue: true)
        for path in ["p1", "p2"] { try await fixture.manager.failPath(named: path) }
        let queued = (0..<1).map { fixture.engine.writeBio(sector: UInt64($0 * 8), sectors: 8, byte: 7) }
        for bio in queued { try device.submit(bio) }
        // The noflush suspend pushes the queued bio back; it stays held (4096 bytes).
        try await device.suspend(noflush: true)
        #expect(device.info.io.heldBytes == 4096)
        #expect(throws: MapperError.self) { try device.submit(fixture.engine.writeBio(sector: 8, sectors: 8, byte: 8)) }
        try await device.resume(noflush: true)
        #expect(device.info.io.queued == 1 && device.info.io.heldBytes == 4096)
        try await fixture.manager.reinstatePath(named: "p2")
        #expect(await queued[0].wait() == nil)
        #expect(device.info.io.heldBytes == 0)
    }

    @Test("a release wakes waiters for room; a wait with a passed deadline returns false")
    func roomWaiters() async throws {
        let fixture = try await MultipathFixture(queueLimits: Self.limits)
        let device = try await fixture.device(queue: true)
        let heldIO = fixture.engine.engine.heldIO
        for path in ["p1", "p2"] { try await fixture.manager.failPath(named: path) }
        let bio = fixture.engine.writeBio(sector: 0, sectors: 8, byte: 1)
        try device.submit(bio)
        let generation = heldIO.generation
        #expect(await heldIO.waitForRoom(since: generation, deadline: .now) == false)
        async let room = heldIO.waitForRoom(since: generation)
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await room)
        #expect(await bio.wait() == nil)
    }
}
