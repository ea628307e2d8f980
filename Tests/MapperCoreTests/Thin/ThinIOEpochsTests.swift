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

}
