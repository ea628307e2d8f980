import Testing

@testable import MapperCore

/// `ShardedCounters`: per-CPU words whose sums are exact.
@Suite("Per-CPU counters")
struct ShardedCountersTests {
    @Test("the shard count is a power of two between 1 and 64, and the current shard is one of them")
    func shardCount() {
        let count = ShardedCounters.shardCount
        #expect(count >= 1 && count <= 64 && count & (count - 1) == 0)
        #expect((0..<count).contains(ShardedCounters.currentShard))
    }

    @Test("counters sum over shards and do not overlap, also past a cache line's worth of them")
    func sumsAndLayout() {
        let counters = ShardedCounters(width: 20)
        for shard in 0..<ShardedCounters.shardCount {
            counters.add(0, 1, shard: shard)
            counters.add(19, UInt64(shard + 1), shard: shard)
        }
        let count = UInt64(ShardedCounters.shardCount)
        #expect(counters.sum(0) == count)
        #expect(counters.sum(19) == count * (count + 1) / 2)
        #expect((1..<19).allSatisfy { counters.sum($0) == 0 })
    }

    @Test("a count taken in on one shard and out on another sums to zero")
    func signedSums() {
        let counters = ShardedCounters(width: 1)
        counters.addSequentially(0, 3, shard: 0)
        counters.addSequentially(0, -2, shard: ShardedCounters.shardCount - 1)
        #expect(counters.sumSequentially(0) == 1)
        counters.addSequentially(0, -1, shard: ShardedCounters.shardCount - 1)
        #expect(counters.sumSequentially(0) == 0)
    }

    @Test("concurrent adds on the callers' own shards lose nothing")
    func concurrentAdds() async {
        let counters = ShardedCounters(width: 2)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<10_000 {
                        counters.add(1, 1)
                        counters.addSequentially(0, 1, shard: ShardedCounters.currentShard)
                    }
                }
            }
        }
        #expect(counters.sum(1) == 40_000)
        #expect(counters.sumSequentially(0) == 40_000)
    }
}
