import MapperCore
import Synchronization

/// The store writer's group-commit counters, for metrics: transactions committed (and failed),
/// items per commit (bio journal entries and state changes that shared one transaction), and
/// commit latency (the transaction from its first statement to the end of its fsync).
///
/// Written only on the writer queue, one set of relaxed atomic adds per commit; read from any
/// thread without a lock.
public final class StoreStatistics: Sendable {
    /// Items per commit: 1, 2, 4 … 4096, plus `+Inf`.
    public static let itemBounds: [UInt64] = (0...12).map { 1 << $0 }
    /// Commit latency in nanoseconds: 100 µs … 10 s, plus `+Inf`.
    public static let latencyBounds: [UInt64] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
    ]

    private let failedCount = Atomic<UInt64>(0)
    /// Items in each committed transaction; its count is the number of commits.
    public let itemsPerCommit = AtomicHistogram(bounds: StoreStatistics.itemBounds)
    /// Duration of each committed transaction, in nanoseconds.
    public let commitLatency = AtomicHistogram(bounds: StoreStatistics.latencyBounds)

    package init() {}

    /// Transactions that committed.
    public var commits: UInt64 { itemsPerCommit.snapshot.count }
    /// Transactions that failed as a whole (their items got the error).
    public var failedCommits: UInt64 { failedCount.load(ordering: .relaxed) }

    package func committed(items: Int, nanos: UInt64) {
        itemsPerCommit.record(UInt64(items))
        commitLatency.record(nanos)
    }

    package func failed() { failedCount.add(1, ordering: .relaxed) }
}
