import Foundation
import MapperCore
import Synchronization
import Testing

/// Start-up recovery and the durability a client reads: a bio the journal gave back is
/// durable as it stands, even while recovery's rewrite of its order waits for a commit.
@Suite("restored bios are durable")
struct RestoreDurabilityTests {
    /// A journal whose commits never come (a disk that stalls at start-up): it records the
    /// entries and acknowledges none.
    final class StalledJournal: BioJournal {
        private let queued = Mutex(0)
        var queuedCount: Int { queued.withLock { $0 } }
        func bioQueued(
            _ bio: Bio, device: String, location: BioLocation, order: Int64, firstEntry: Bool, ack: BioJournalAck
        ) {
            queued.withLock { $0 += 1 }
        }
        func bioDequeued(_ bioID: UInt64, device: String, location: BioLocation) {}
        func bioEnded(_ bioID: UInt64, device: String, error: Errno?) {}
        func deviceRenamed(from: String, to: String) {}
    }

    @Test("a restored deferred bio reads durable before its rewritten entry commits; a new one does not")
    func restoredDeferredIsDurable() async throws {
        let journal = StalledJournal()
        let manager = DeviceManager(engine: EngineServices(journal: journal))
        let restored = (1...3).map { index in
            Bio(
                id: UInt64(index), op: .write, sector: UInt64(index * 8), sectors: 8,
                buffer: IOBuffer(copying: [UInt8](repeating: UInt8(index), count: 4096)))
        }
        let problems = try await manager.restoreDevice(
            DeviceManager.DeviceRestore(
                name: "z", uuid: nil, readOnly: false, suspended: true, eventNr: 1,
                live: try TableParser.parse("0 64 zero"), inactive: [], targetStates: [:], bios: restored))
        #expect(problems.isEmpty)
        let device = try manager.device(named: "z")
        #expect(device.isSuspended)
        #expect(journal.queuedCount == 3)
        #expect(device.deferredBios.map(\.id) == [1, 2, 3])
        #expect(device.deferredBios.allSatisfy { $0.isDurablyQueued && $0.state == .deferred })

        // A bio deferred after start-up is durable only once its own entry commits.
        let late = manager.makeBio(op: .write, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        try device.submit(late)
        #expect(late.state == .deferred && !late.isDurablyQueued)
    }
}
