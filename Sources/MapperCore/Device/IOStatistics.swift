import Synchronization

/// A device's I/O counters in node_exporter's diskstats terms: bios ended, bytes and time per
/// direction, and a latency histogram per op.
///
/// Contract: each ended bio costs three relaxed adds (its direction's bytes, one histogram
/// bucket, the histogram's sum) plus one more if it failed, all on the shard of
/// ``ShardedCounters`` of the CPU that ends it, each a plain add inside a restartable
/// sequence where the thread has an rseq area: no lock, no locked instruction, no label
/// lookup, and no cache line shared with a submitter on another CPU. A bio counts once, when it ends (completed or failed)
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
    /// `firstBucketSlot + latencyBounds.count + 1`, written out so that the hot path reads a
    /// constant, not a lazily initialised global (a test checks the sum).
    static let slotsPerOp = 23

    /// One op's counters (a view of the device's shards).
    public struct Direction: Sendable {
        let counters: ShardedCounters
        let base: Int

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

    public var reads: Direction { direction(.read) }
    public var writes: Direction { direction(.write) }
    public var flushes: Direction { direction(.flush) }
    public var discards: Direction { direction(.discard) }

    /// The counters of `op`.
    public func direction(_ op: BioOp) -> Direction { Direction(counters: counters, base: Self.base(op)) }

    /// The first counter of `op`'s slots.
    @inline(__always)
    private static func base(_ op: BioOp) -> Int {
        switch op {
        case .read: 0
        case .write: slotsPerOp
        case .flush: 2 * slotsPerOp
        case .discard: 3 * slotsPerOp
        }
    }

    /// Counts `bio`, which ended with `error` at `endedAt` (a ``MonotonicClock`` reading),
    /// on the calling CPU's shard. Borrows the counters (no ``Direction``, which would hold
    /// them).
    @inline(__always)
    func endIOAcct(_ bio: Bio, error: Errno?, endedAt: Int64) {
        let elapsed = endedAt &- bio.startedNanos
        let nanos = elapsed > 0 ? UInt64(elapsed) : 0
        let base = Self.base(bio.op)
        if error != nil {
            counters.add(base + Self.failedSlot, 1)
        } else {
            counters.add(base + Self.bytesSlot, UInt64(bio.byteCount))
        }
        counters.add(base + Self.firstBucketSlot + Self.bucket(nanos), 1)
        counters.add(base + Self.sumSlot, nanos)
    }
}
