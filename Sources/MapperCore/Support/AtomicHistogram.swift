import Synchronization

/// A Prometheus-style histogram of non-negative integer observations (nanoseconds, counts)
/// kept in relaxed atomics: recording is one bucket add and one sum add, no lock, so it can
/// sit on the I/O path. A reader sees each bucket exactly but not all buckets at one instant,
/// which is what a scrape needs (counts only grow).
public final class AtomicHistogram: Sendable {
    /// Upper bounds of the buckets in the observation's unit, ascending; `+Inf` is implicit.
    public let bounds: [UInt64]
    private let buckets: [Cell]
    private let sum = Atomic<UInt64>(0)

    /// An atomic that can live in an array.
    private final class Cell: Sendable {
        let value = Atomic<UInt64>(0)
    }

    /// What a reader gets: cumulative counts per bound (the last entry is `+Inf`, every
    /// observation), and the sum of observations.
    public struct Snapshot: Sendable, Equatable {
        public var bounds: [UInt64]
        public var cumulative: [UInt64]
        public var sum: UInt64
        public var count: UInt64 { cumulative.last ?? 0 }
    }

    public init(bounds: [UInt64]) {
        precondition(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "histogram bounds must ascend")
        self.bounds = bounds
        self.buckets = (0...bounds.count).map { _ in Cell() }
    }

    /// Counts one observation in the first bucket whose bound is at least `value`.
    @inline(__always)
    public func record(_ value: UInt64) {
        var index = 0
        while index < bounds.count && value > bounds[index] { index += 1 }
        buckets[index].value.add(1, ordering: .relaxed)
        sum.add(value, ordering: .relaxed)
    }

    public var snapshot: Snapshot {
        var running: UInt64 = 0
        let cumulative = buckets.map { cell -> UInt64 in
            running &+= cell.value.load(ordering: .relaxed)
            return running
        }
        return Snapshot(bounds: bounds, cumulative: cumulative, sum: sum.load(ordering: .relaxed))
    }
}
