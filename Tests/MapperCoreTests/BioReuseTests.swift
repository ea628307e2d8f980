import MapperTestSupport
import Testing

@testable import MapperCore

/// `DeviceManager.reuseBio`: an ended bio its caller alone holds is made new (the kernel's
/// `bio_reset`); anything else gets a new bio.
@Suite("Bio reuse")
struct BioReuseTests {
    @Test("an ended bio held only by its caller is made new: same object, new id, fresh state, and it does I/O again")
    func reusesAnEndedBio() async throws {
        let fixture = try EngineFixture()
        _ = try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("lin", table: "0 64 linear disk 0")
        let payload = IOBuffer(copying: [UInt8](repeating: 0x5A, count: 4096))
        var bio = fixture.manager.makeBio(op: .write, sector: 8, sectors: 8, buffer: payload)
        #expect(try await device.perform(bio) == nil)
        let first = ObjectIdentifier(bio)
        let firstID = bio.id

        let readBuffer = IOBuffer(count: 4096)
        fixture.manager.reuseBio(&bio, op: .read, sector: 8, sectors: 8, buffer: readBuffer)
        #expect(ObjectIdentifier(bio) == first, "no allocation")
        #expect(bio.id > firstID && bio.op == .read && bio.sector == 8 && bio.buffer === readBuffer)
        #expect(bio.state == .inflight && bio.ended == nil && bio.completedAt == nil && bio.error == nil)
        #expect(try await device.perform(bio) == nil)
        #expect(readBuffer.bytes == [UInt8](repeating: 0x5A, count: 4096))
        #expect(bio.state == .completed)

        // And once more, ending with an error this time, then cleanly again.
        fixture.manager.reuseBio(&bio, op: .read, sector: 60, sectors: 8, buffer: readBuffer)
        #expect(throws: MapperError.self) { try device.submit(bio) }
        bio.fail(.EINVAL)
        fixture.manager.reuseBio(&bio, op: .read, sector: 0, sectors: 8, buffer: readBuffer)
        #expect(ObjectIdentifier(bio) == first && bio.ended == nil)
        #expect(try await device.perform(bio) == nil)
    }

    @Test("a bio someone else holds, one that has not ended, or one with an idempotency key is not reused")
    func replacesWhenNotReusable() async throws {
        let fixture = try EngineFixture()
        _ = try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("lin", table: "0 64 linear disk 0")
        let buffer = IOBuffer(count: 4096)

        var shared = fixture.manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: buffer)
        #expect(try await device.perform(shared) == nil)
        let other = shared
        fixture.manager.reuseBio(&shared, op: .read, sector: 8, sectors: 8, buffer: buffer)
        #expect(shared !== other, "another reference exists: a new bio")
        #expect(other.state == .completed && other.sector == 0, "the old bio is untouched")

        var pending = fixture.manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: buffer)
        let pendingObject = ObjectIdentifier(pending)
        fixture.manager.reuseBio(&pending, op: .read, sector: 8, sectors: 8, buffer: buffer)
        #expect(ObjectIdentifier(pending) != pendingObject, "not ended: a new bio")

        var keyed = Bio(
            id: fixture.engine.nextBioID(), op: .read, sector: 0, sectors: 8, buffer: buffer, idempotencyKey: "k")
        #expect(try await device.perform(keyed) == nil)
        let keyedObject = ObjectIdentifier(keyed)
        fixture.manager.reuseBio(&keyed, op: .read, sector: 8, sectors: 8, buffer: buffer)
        #expect(ObjectIdentifier(keyed) != keyedObject && keyed.idempotencyKey == nil)
    }

    @Test("a bio that was deferred and waited for is reused with its queue state and waiters cleared")
    func reusesAHeldBio() async throws {
        let fixture = try EngineFixture()
        _ = try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("lin", table: "0 64 linear disk 0")
        let buffer = IOBuffer(count: 4096)
        var bio = fixture.manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: buffer)
        try await device.suspend()
        try device.submit(bio)
        #expect(bio.state == .deferred)
        #expect(await bio.waitUntilEndedOrDurablyQueued(deadline: .now + .seconds(30)))
        #expect(bio.isDurablyQueued)
        // Waited for here, not in another task (which could still hold the bio).
        let resume = Task { try await device.resume() }
        #expect(await bio.wait() == nil)
        try await resume.value
        let object = ObjectIdentifier(bio)
        fixture.manager.reuseBio(&bio, op: .read, sector: 8, sectors: 8, buffer: buffer)
        #expect(ObjectIdentifier(bio) == object)
        #expect(bio.state == .inflight && !bio.isDurablyQueued && bio.waiterCount == 0)
        #expect(try await device.perform(bio) == nil)
    }
}
