import Foundation
import MapperCore
import MapperStore
import MapperTestSupport
import Testing

/// When an outage ends, every queued bio leaves its queue and ends at once: the PostgreSQL
/// journal applies such runs of entries together (every dequeue, then every end). The result
/// in the store must be what the entries one by one give, on both stores.
@Suite("journal: an outage's end")
struct JournalDrainTests {
    static let table =
        "0 1024 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1\n"
        + "1024 1024 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1"

    @Test(
        "queued bios leave their queues together: in flight once every clone left, then completed, payloads gone",
        arguments: StoreKind.available)
    func drain(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        try await fixture.backend("disk", sectors: 4096)
        let path = try await fixture.manager.createPath(name: "p1", backend: "disk")
        let device = try await fixture.manager.createDevice(name: "mp", table: TableParser.parse(Self.table))
        try await fixture.manager.failPath(named: "p1")
        var bios: [Bio] = []
        for index in 0..<40 {
            bios.append(try await fixture.queuedWrite(device, sector: UInt64(index * 8), byte: UInt8(index + 1)))
        }
        // Across both targets: two clones queued, each dequeued.
        bios.append(try await fixture.queuedWrite(device, sector: 1020, byte: 0x77))
        #expect(bios.allSatisfy { $0.isDurablyQueued })

        // The path comes back stalled: every clone leaves its queue and waits in the path.
        // Commits held meanwhile, so that all the dequeues go in one transaction.
        try await fixture.manager.setFault(path: "p1", .stall)
        fixture.store.holdCommits()
        // The reinstatement waits for its commit: it returns once commits are released.
        let manager = fixture.manager
        let reinstated = Task { try await manager.reinstatePath(named: "p1") }
        let deadline = ContinuousClock.now + .seconds(20)
        while path.stalledCount < 42, ContinuousClock.now < deadline { await Task.yield() }
        #expect(path.stalledCount == 42)
        fixture.store.releaseCommits()
        _ = try await reinstated.value
        await fixture.store.committed()
        #expect(try await fixture.store.bios(device: "mp", state: .queued).isEmpty)
        #expect(try await fixture.store.bios(device: "mp", state: .inflight).count == 41)

        // Released: every bio ends, recorded completed; nothing is left to recover.
        try await fixture.manager.setFault(path: "p1", .delay(milliseconds: 1))
        for bio in bios { #expect(await bio.wait(deadline: .now + .seconds(20)) == .some(nil)) }
        await fixture.store.committed()
        #expect(try await fixture.store.bios(device: "mp", state: .completed).count == 41)
        let report = try await fixture.crashAndRecover()
        #expect(report.bios == 0 && report.problems.isEmpty)
        #expect(try fixture.fileBytes("disk", sector: 1020, sectors: 8) == [UInt8](repeating: 0x77, count: 4096))
        #expect(try fixture.fileBytes("disk", sector: 8, sectors: 8) == [UInt8](repeating: 2, count: 4096))
    }
}
