import Synchronization

/// A device's I/O counters in node_exporter's diskstats terms: bios ended, bytes and time per
/// direction, and a latency histogram per op.
///
/// Contract: each ended bio costs three relaxed atomic adds (its direction's bytes, one
/// histogram bucket, the histogram's sum) plus one more if it failed, all on the bio's
/// shard of ``ShardedCounters``: no lock, no label lookup, and no cache line shared
/// with a submitter on another CPU. A bio counts once, when it ends (completed or failed)
/// with the latency from its creation, so a bio held across a suspend or queued without
/// paths counts its whole wait. A pushed-back bio is not ended and is counted when it
/// finally ends. Readers (a metrics scrape) sum the shards: they see every counter exactly
/// but not all at one instant.
public final class IOStatistics: Sendable {
    /// Latency bucket bounds in nanoseconds: 10 µs … 10 s, plus `+Inf`.
    public static let latencyBounds: [UInt64] = [
        10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
        25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
        5_000_000_000, 10_000_000_000,
    ]

    /// Counters per op: failed, bytes, latency sum, then one per bucket (the bounds and +Inf).
    private static let failedSlot = 0
    private static let bytesSlot = 1
    private static let sumSlot = 2
    private static let firstBucketSlot = 3
    static let slotsPerOp = firstBucketSlot + latencyBounds.count + 1

    /// One op's counters (a view of the device's shards).
    public struct Direction: Sendable {
        let counters: ShardedCounters
        let base: Int

        @inline(__always)
        func record(bytes: Int, nanos: UInt64, failed: Bool, shard: Int) {
            if failed {
                counters.add(base + IOStatistics.failedSlot, 1, shard: shard)
            } else {
                counters.add(base + IOStatistics.bytesSlot, UInt64(bytes), shard: shard)
            }
            counters.add(base + IOStatistics.firstBucketSlot + IOStatistics.bucket(nanos), 1, shard: shard)
            counters.add(base + IOStatistics.sumSlot, nanos, shard: shard)
        }

        /// Bios of this op that ended with an error.
        public var failed: UInt64 { counters.sum(base + IOStatistics.failedSlot) }
        /// Bytes of the bios of this op that completed without an error.
        public var bytes: UInt64 { counters.sum(base + IOStatistics.bytesSlot) }
        /// Every ended bio's latency in nanoseconds; its count is the bios ended and its sum
        /// the time spent.
        public var latency: Latency { Latency(direction: self) }
    }

    /// A direction's latency histogram.
    public struct Latency: Sendable {
        let direction: Direction

        /// The cumulative buckets and the sum, summed over the shards now.
        public var snapshot: AtomicHistogram.Snapshot {
            var running: UInt64 = 0
            let cumulative = (0...IOStatistics.latencyBounds.count).map { index -> UInt64 in
                running &+= direction.counters.sum(direction.base + IOStatistics.firstBucketSlot + index)
                return running
            }
            return AtomicHistogram.Snapshot(
                bounds: IOStatistics.latencyBounds, cumulative: cumulative,
                sum: direction.counters.sum(direction.base + IOStatistics.sumSlot))
        }
    }

    /// The bucket of `nanos`: the first bound not below it (`latencyBounds.count`: +Inf).
    @inline(__always)
    static func bucket(_ nanos: UInt64) -> Int {
        // Most bios end well under the first bound: one compare.
        if nanos <= 10_000 { return 0 }
        var index = 1
        let bounds = latencyBounds
        while index < bounds.count && nanos > bounds[index] { index += 1 }
        return index
    }

    private let counters = ShardedCounters(width: 4 * IOStatistics.slotsPerOp)

    public init() {}

    public var reads: Direction { Direction(counters: counters, base: 0) }
    public var writes: Direction { Direction(counters: counters, base: Self.slotsPerOp) }
    public var flushes: Direction { Direction(counters: counters, base: 2 * Self.slotsPerOp) }
    public var discards: Direction { Direction(counters: counters, base: 3 * Self.slotsPerOp) }

    /// The counters of `op`.
    @inline(__always)
    public func direction(_ op: BioOp) -> Direction {
        switch op {
        case .read: reads
        case .write: writes
        case .flush: flushes
        case .discard: discards
        }
    }

    /// Counts `bio`, which ended with `error` at `endedAt` (a ``MonotonicClock`` reading).
    @inline(__always)
    func ended(_ bio: Bio, error: Errno?, endedAt: Int64) {
        let elapsed = endedAt &- bio.startedNanos
        direction(bio.op).record(
            bytes: bio.byteCount, nanos: elapsed > 0 ? UInt64(elapsed) : 0, failed: error != nil, shard: bio.shard)
    }
}
