import MapperCore
import MapperTestSupport
import Synchronization
import Testing

/// ``ExportSession``, the door an export goes through: it opens the device for the client,
/// submits with the engine's admission, hands out a ticket for a refusal that a later release
/// honours, and closes the open.
@Suite("export session")
struct ExportSessionTests {
    @Test("submit, refusal at the queue limits with a ticket, room after a release, close")
    func submitRefuseRoomClose() async throws {
        let fixture = try await MultipathFixture(queueLimits: QueueLimits(deviceBytes: 4096, totalBytes: 1 << 30))
        let device = try await fixture.device(queue: true)
        let revoked = RevokeCount()
        let session = ExportSession(device: device, manager: fixture.manager, revoke: { revoked.add() })
        #expect(device.holders.externalOpenCount == 1)

        let read = session.makeBio(op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .submitted = session.submit(read) else {
            Issue.record("a read with paths up was not submitted")
            return
        }
        #expect(await read.wait() == nil)

        for path in ["p1", "p2"] { try await fixture.manager.failPath(named: path) }
        let held = session.makeBio(op: .write, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .submitted = session.submit(held) else {
            Issue.record("the first write was not held")
            return
        }
        let refused = session.makeBio(op: .write, sector: 8, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .refused(let ticket) = session.submit(refused) else {
            Issue.record("past the limit a write was not refused")
            return
        }
        // The release that frees room comes before the wait: the ticket still sees it.
        try await fixture.manager.reinstatePath(named: "p1")
        #expect(await held.wait() == nil)
        #expect(await session.waitForRoom(ticket))
        guard case .submitted = session.submit(refused) else {
            Issue.record("the retry was not submitted")
            return
        }
        #expect(await refused.wait() == nil)

        let beyond = session.makeBio(op: .read, sector: 1 << 40, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .failed(.EINVAL) = session.submit(beyond) else {
            Issue.record("a read beyond the end did not fail with EINVAL")
            return
        }
        session.close()
        session.close()
        #expect(device.holders.externalOpenCount == 0)
        #expect(revoked.count == 0)
    }

    @Test("a forced removal revokes the session's open")
    func forcedRemovalRevokes() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        let revoked = RevokeCount()
        let session = ExportSession(device: device, manager: fixture.manager, revoke: { revoked.add() })
        await #expect(throws: MapperError.self) { try await fixture.manager.removeDevice(named: device.name) }
        try await fixture.manager.removeDevice(named: device.name, force: true)
        #expect(revoked.count == 1)
        let late = session.makeBio(op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .failed(.ENODEV) = session.submit(late) else {
            Issue.record("a submission after removal did not fail with ENODEV")
            return
        }
        session.close()
    }

    @Test("bio ids come in blocks per session: unique over sessions and the engine, ascending within a session")
    func idBlocks() async throws {
        let fixture = try await MultipathFixture()
        let device = try await fixture.device(queue: true)
        let first = ExportSession(device: device, manager: fixture.manager, revoke: {})
        let second = ExportSession(device: device, manager: fixture.manager, revoke: {})
        defer {
            first.close()
            second.close()
        }
        let count = Int(ExportSession.idBlockSize) * 2 + 3
        var ids: [UInt64] = []
        var firstIDs: [UInt64] = []
        for index in 0..<count {
            let id = first.makeBio(op: .read, sector: 0, sectors: 8, buffer: nil).id
            firstIDs.append(id)
            ids.append(id)
            ids.append(second.makeBio(op: .read, sector: 0, sectors: 8, buffer: nil).id)
            if index % 100 == 0 {
                ids.append(fixture.manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: nil).id)
            }
        }
        #expect(Set(ids).count == ids.count)
        #expect(firstIDs == firstIDs.sorted())
        // Three blocks for each session: the engine's counter moved by blocks, not by bios.
        let span = try #require(firstIDs.last) - (try #require(firstIDs.first))
        #expect(span >= 2 * ExportSession.idBlockSize)
    }

    @Test("bio cache: an ended bio handed back with its last reference is renewed; any other is let go")
    func spareBios() async throws {
        let (fixture, device, cache) = try await Self.cacheOverLinear(sector: 8, sectors: 8, byte: 0x5A)
        let session = cache.session
        defer {
            session.close()
            withExtendedLifetime(fixture) {}
        }

        // Ended inside submit (a file backend), nobody waited: kept and renewed.
        let first = EndCount()
        var bio: Bio? = cache.makeBio(op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096), endIO: first)
        let identity = ObjectIdentifier(try #require(bio))
        let firstID = try #require(bio?.id)
        guard case .submitted = session.submit(try #require(bio)) else {
            Issue.record("the read was not submitted")
            return
        }
        #expect(bio?.ended != nil)
        cache.recycle(&bio)
        #expect(bio == nil)
        #expect(cache.spareCount == 1)

        let second = EndCount()
        let buffer = IOBuffer(count: 4096)
        let renewed = cache.makeBio(op: .read, sector: 8, sectors: 8, buffer: buffer, endIO: second)
        #expect(ObjectIdentifier(renewed) == identity)
        #expect(cache.spareCount == 0)
        #expect(renewed.id > firstID)
        #expect(renewed.ended == nil)
        #expect(renewed.state == .inflight)
        #expect(renewed.sector == 8)
        guard case .submitted = session.submit(renewed) else {
            Issue.record("the renewed read was not submitted")
            return
        }
        #expect(await renewed.wait() == nil)
        #expect(buffer.bytes.allSatisfy { $0 == 0x5A })
        // Each receiver heard exactly its own end.
        #expect(first.count == 1)
        #expect(second.count == 1)

        // Another reference is still out there: let go, not kept.
        var shared: Bio? = renewed
        withExtendedLifetime(renewed) { cache.recycle(&shared) }
        #expect(cache.spareCount == 0)

        // Not ended yet (its device is suspended, so it is deferred): let go.
        try await device.suspend()
        var deferred: Bio? = cache.makeBio(op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        guard case .submitted = session.submit(try #require(deferred)) else {
            Issue.record("the deferred read was not submitted")
            return
        }
        let waiter = try #require(deferred)
        cache.recycle(&deferred)
        #expect(cache.spareCount == 0)

        // Ended after being held and journaled, and waited on: let go too.
        try await device.resume()
        #expect(await waiter.wait() == nil)
        var held: Bio? = waiter
        _ = consume waiter
        cache.recycle(&held)
        #expect(cache.spareCount == 0)
    }
}

extension ExportSessionTests {
    /// A linear device over a 64-sector file backend with `sectors` of `byte` written at
    /// `sector`, and a bio cache on an export session of it (the caller closes the session).
    static func cacheOverLinear(
        sector: UInt64, sectors: UInt64, byte: UInt8
    ) async throws -> (EngineFixture, MappedDevice, BioCache) {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 64)
        let device = try await fixture.device("lin", table: "0 64 linear disk 0")
        #expect(try await fixture.write(device, sector: sector, sectors: sectors, byte: byte) == nil)
        let cache = BioCache(session: ExportSession(device: device, manager: fixture.manager, revoke: {}))
        return (fixture, device, cache)
    }

    @Test("bio cache: a read's buffer comes back for a later read of its size only when nothing else holds it")
    func spareBuffers() async throws {
        let (fixture, _, cache) = try await Self.cacheOverLinear(sector: 0, sectors: 16, byte: 0x3C)
        let session = cache.session
        defer {
            session.close()
            withExtendedLifetime(fixture) {}
        }
        func read(_ buffer: IOBuffer, sector: UInt64) throws -> Bio {
            let bio = cache.makeBio(op: .read, sector: sector, sectors: UInt64(buffer.count >> 9), buffer: buffer)
            guard case .submitted = session.submit(bio) else { throw MapperError(.EIO, "not submitted") }
            #expect(bio.ended == .some(nil))
            return bio
        }

        // Only the bio referred to its buffer: kept, and given to the next read of that size.
        let first = cache.buffer(count: 4096)
        let identity = ObjectIdentifier(first)
        var bio: Bio? = try read(first, sector: 0)
        _ = consume first
        cache.recycle(&bio)
        #expect(cache.spareBufferCount == 1)
        // Another size gets a new buffer; the kept one stays.
        #expect(ObjectIdentifier(cache.buffer(count: 8192)) != identity)
        #expect(cache.spareBufferCount == 1)
        let again = cache.buffer(count: 4096)
        #expect(ObjectIdentifier(again) == identity)
        #expect(cache.spareBufferCount == 0)
        var second: Bio? = try read(again, sector: 8)
        #expect(again.bytes.allSatisfy { $0 == 0x3C })

        // The caller still holds the buffer (a reply being written from it): not kept.
        cache.recycle(&second)
        #expect(cache.spareBufferCount == 0)
        withExtendedLifetime(again) {}

        // A slice of an arena does not own its bytes: not kept.
        let arena = IOArena(capacity: 1 << 16)
        var sliced: Bio? = try read(try #require(arena.copy(again.base, count: 4096)), sector: 0)
        cache.recycle(&sliced)
        #expect(cache.spareBufferCount == 0)
    }
}

/// Counts the ends a receiver heard.
final class EndCount: BlockIOCompletion, Sendable {
    private let value = Mutex(0)
    func endIO(_ error: Errno?) { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}

/// Counts revocations (called from the removing task).
final class RevokeCount: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
