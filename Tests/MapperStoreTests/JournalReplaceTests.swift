import Foundation
import MapperStore
import MapperTestSupport
import Testing

@testable import MapperCore

@Suite("journal: a bio's first entry written again")
struct JournalReplaceTests {
    /// The PostgreSQL journal inserts a commit's first entries with one plain insert; an id
    /// that is there already makes it fail, and the commit runs again entry by entry, where a
    /// first entry replaces the row (as SQLite's `INSERT OR REPLACE`). Nothing else in that
    /// commit may be lost on the way.
    @Test(
        "a first entry for an id journaled before replaces it, and the entries committed with it land",
        arguments: StoreKind.available)
    func replacedFirstEntry(kind: StoreKind) async throws {
        let fixture = try await StoreFixture(kind)
        let device = try await fixture.multipathSetup()
        try await fixture.manager.failPath(named: "p1")
        try await fixture.manager.failPath(named: "p2")
        let first = try await fixture.queuedWrite(device, sector: 0, byte: 0x41)
        #expect(first.isDurablyQueued)
        // Held, so that the entry written again and two new writes go in one transaction.
        fixture.store.holdCommits()
        fixture.store.journal.bioQueued(
            first, device: "mp", location: .targetQueue(0), order: 1_000, firstEntry: true,
            ack: BioJournalAck(bio: first, state: .queued))
        var later: [Bio] = []
        for (index, byte) in [UInt8(0x42), 0x43].enumerated() {
            let bio = fixture.manager.makeBio(
                op: .write, sector: UInt64(8 + index * 8), sectors: 8,
                buffer: IOBuffer(copying: [UInt8](repeating: byte, count: 4096)))
            try device.submit(bio)
            later.append(bio)
        }
        fixture.store.releaseCommits()
        // A deadline, so that an entry lost on the way fails the test instead of hanging it.
        for bio in later { await bio.waitUntilEndedOrDurablyQueued(deadline: .now + .seconds(20)) }
        #expect(later.allSatisfy { $0.isDurablyQueued })
        await fixture.store.committed()
        let stored = try await fixture.store.bios(device: "mp", state: .queued)
        #expect(Set(stored.map(\.id)) == Set([first.id] + later.map(\.id)))

        let report = try await fixture.crashAndRecover()
        #expect(report.bios == 3 && report.problems.isEmpty)
        try await fixture.manager.reinstatePath(named: "p1")
        await fixture.settle(report.recovered["mp"] ?? [])
        for (index, byte) in [UInt8(0x41), 0x42, 0x43].enumerated() {
            #expect(
                try fixture.fileBytes("disk", sector: index * 8, sectors: 8) == [UInt8](repeating: byte, count: 4096))
        }
    }
}
