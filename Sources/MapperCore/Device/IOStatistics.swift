import Synchronization

/// A device's I/O counters in node_exporter's diskstats terms: bios ended, bytes and time per
/// direction, and a latency histogram per op.
///
/// Contract: each ended bio costs three relaxed atomic adds on the device's own counters (its
/// direction's bytes, one histogram bucket, the histogram's sum) plus one more if it failed;
/// no lock, no label lookup. A bio counts once, when it ends (completed or failed) with the
/// latency from its creation, so a bio held across a suspend or queued without paths counts
/// its whole wait. A pushed-back bio is not ended and is counted when it finally ends.
/// Readers (a metrics scrape) see every counter exactly but not all at one instant.
public final class IOStatistics: Sendable {
    /// Latency bucket bounds in nanoseconds: 10 µs … 10 s, plus `+Inf`.
    public static let latencyBounds: [UInt64] = [
        10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
        25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
        5_000_000_000, 10_000_000_000,
    ]

    /// One op's counters.
    public final class Direction: Sendable {
        private let failedCount = Atomic<UInt64>(0)
        private let byteCount = Atomic<UInt64>(0)
        /// Every ended bio's latency in nanoseconds; its count is the bios ended and its sum
        /// the time spent.
        public let latency = AtomicHistogram(bounds: IOStatistics.latencyBounds)

        init() {}

        @inline(__always)
        func record(bytes: Int, nanos: UInt64, failed: Bool) {
            if failed {
                failedCount.add(1, ordering: .relaxed)
            } else {
                byteCount.add(UInt64(bytes), ordering: .relaxed)
            }
            latency.record(nanos)
        }

        /// Bios that ended with an error.
        public var failed: UInt64 { failedCount.load(ordering: .relaxed) }
        /// Bytes of the bios that completed without an error.
        public var bytes: UInt64 { byteCount.load(ordering: .relaxed) }
    }

    public let reads = Direction()
    public let writes = Direction()
    public let flushes = Direction()
    public let discards = Direction()

    public init() {}

    public func direction(_ op: BioOp) -> Direction {
        switch op {
        case .read: reads
        case .write: writes
        case .flush: flushes
        case .discard: discards
        }
    }

    /// Counts a bio that ends now (`endedAt`, a ``MonotonicClock`` reading).
    @inline(__always)
    func ended(_ bio: Bio, error: Errno?, endedAt: Int64) {
        let elapsed = endedAt &- bio.startedNanos
        direction(bio.op).record(bytes: bio.byteCount, nanos: elapsed > 0 ? UInt64(elapsed) : 0, failed: error != nil)
    }
}
