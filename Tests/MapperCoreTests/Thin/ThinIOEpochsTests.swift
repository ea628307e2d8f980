import MapperTestSupport
import Testing

@testable import MapperCore

/// The epochs a pool's commits wait on before released blocks become free.
@Suite("thin I/O epochs")
struct ThinIOEpochsTests {
    @Test("a drain waits for the I/O of the old epoch and not for I/O that entered after the flip")
    func drain() async {
        let epochs = ThinIOEpochs()
        let early = epochs.enter()
        #expect(epochs.count(0) == 1)
        let (ended, signal) = AsyncStream<Void>.makeStream()
        let drain = Task {
            await epochs.flipAndDrain()
            signal.yield()
        }
        // An I/O entering once the flip happened is counted in the new epoch.
        var late = epochs.enter()
        while late.epoch == 0 {
            epochs.leave(late)
            await Task.yield()
            late = epochs.enter()
        }
        #expect(epochs.count(1) == 1 && epochs.count(0) == 1)
        // Only the early one holds the drain.
        epochs.leave(early)
        var iterator = ended.makeAsyncIterator()
        _ = await iterator.next()
        await drain.value
        #expect(epochs.count(0) == 0 && epochs.count(1) == 1)
        epochs.leave(late)
        // Nothing in flight: a drain returns at once.
        await epochs.flipAndDrain()
        #expect(epochs.count(0) == 0 && epochs.count(1) == 0)
    }

    /// What the pool's skipping of the count for file backends rests on.
    final class Ended: BlockIOCompletion, @unchecked Sendable {
        var count = 0
        func endIO(_ error: Errno?) { count += 1 }
    }

    @Test("a file backend has ended a read or write when submit returns")
    func fileBackendEndsInline() async throws {
        let fixture = try EngineFixture()
        let backend = try await fixture.backend("data", sectors: 64)
        let ended = Ended()
        for op in [BioOp.write, .read] {
            backend.submit(
                BlockRequest(
                    op: op, sector: 8, sectors: 8, buffer: IOBuffer(count: 4096), bufferOffset: 0, completion: ended))
        }
        #expect(ended.count == 2)
    }

    @Test("a pool on a mapped data device counts its I/O until it ends, and commits after a discard")
    func mappedDataDevice() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("meta", sectors: 2048)
        try await fixture.backend("data", sectors: 2048)
        try await fixture.device("dl", table: "0 2048 linear data 0")
        let pool = try await fixture.device("pool", table: "0 2048 thin-pool meta dl 128 0")
        _ = try await pool.message("create_thin 0")
        let thin = try await fixture.device("t", table: "0 4096 thin pool 0")
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 7) == nil)
        #expect(try await fixture.write(thin, sector: 8, sectors: 8, byte: 8) == nil)
        #expect(try await fixture.read(thin, sector: 128, sectors: 128).allSatisfy { $0 == 7 })
        let target = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        let epochs = target.pool.epochs
        #expect(epochs.count(0) + epochs.count(1) == 0)
        let discard = fixture.manager.makeBio(op: .discard, sector: 128, sectors: 128, buffer: nil)
        #expect(try await thin.perform(discard) == nil)
        #expect(try await thin.perform(fixture.manager.makeBio(op: .flush, sector: 0, sectors: 0, buffer: nil)) == nil)
        #expect(target.status().contains(" 1/16 "))
        #expect(epochs.count(0) + epochs.count(1) == 0)
    }
}
