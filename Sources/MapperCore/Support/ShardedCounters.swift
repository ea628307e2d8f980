import CMapperSys
import Foundation

/// A block of 64-bit counters kept once per CPU shard (dm's percpu counters), so that
/// submitters running on different CPUs never write the same cache line.
///
/// **Layout.** One raw allocation, aligned to 128 bytes; each shard owns `width` words
/// rounded up to a multiple of 16 (128 bytes, two cache lines: the adjacent-line prefetcher
/// pairs them). Nothing else lives in those lines.
///
/// **Shards.** The CPU count rounded up to a power of two, at most 64. The shard of a call is
/// the CPU the thread runs on (``currentShard``, one load from the thread's rseq area: no
/// call, no system call), masked: CPUs beyond the count share a shard, which costs
/// contention, never correctness. A thread may migrate between reading its shard and writing
/// it; that too only costs contention.
///
/// **Operations.** ``add(_:_:)``, ``add(_:_:shard:)`` and ``sum(_:)`` are relaxed: for
/// statistics, whose readers want a recent total, not a snapshot. ``add(_:_:)`` adds on the
/// calling CPU's shard inside a restartable sequence (`cmapper_percpu_add`: a plain add, no
/// locked instruction, where the thread has an rseq area; a locked add elsewhere).
/// ``addSequentially(_:_:shard:)`` and
/// ``sumSequentially(_:)`` are sequentially consistent: for a count that takes part in a
/// Dekker handshake with a flag (``DeviceIOGate``'s `pending`). A sum is not an atomic
/// snapshot of all shards; the users state why that is enough.
final class ShardedCounters: @unchecked Sendable {
    /// Number of shards (a power of two).
    static let shardCount: Int = {
        let cpus = min(max(ProcessInfo.processInfo.activeProcessorCount, 1), 64)
        var count = 1
        while count < cpus { count <<= 1 }
        return count
    }()

    /// The shard of the calling thread's CPU now. Reads the lazily initialised ``shardCount``;
    /// the hot path uses an instance's ``shardOfCurrentCPU``, which reads a stored mask.
    @inline(__always)
    static var currentShard: Int { Int(truncatingIfNeeded: cmapper_current_cpu()) & (shardCount - 1) }

    /// ``shardCount`` - 1, stored, so that the hot path reads no lazily initialised global.
    let shardMask: Int

    /// The shard of the calling thread's CPU now (``currentShard``).
    @inline(__always)
    var shardOfCurrentCPU: Int { Int(truncatingIfNeeded: cmapper_current_cpu()) & shardMask }

    /// Counters per shard.
    let width: Int
    private let stride: Int
    nonisolated(unsafe) private let words: UnsafeMutablePointer<UInt64>

    init(width: Int) {
        precondition(width > 0)
        self.width = width
        shardMask = Self.shardCount - 1
        stride = (width + 15) & ~15
        let bytes = stride * 8 * Self.shardCount
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 128)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        words = raw.bindMemory(to: UInt64.self, capacity: stride * Self.shardCount)
    }

    deinit { UnsafeMutableRawPointer(words).deallocate() }

    @inline(__always)
    private func word(_ counter: Int, _ shard: Int) -> UnsafeMutablePointer<UInt64> {
        words + (shard &* stride &+ counter)
    }

    /// Adds `value` to `counter` in the calling CPU's shard (relaxed; no locked instruction
    /// where the thread has an rseq area: see the type's comment).
    @inline(__always)
    func add(_ counter: Int, _ value: UInt64) {
        cmapper_percpu_add(words, UInt64(stride), UInt64(shardMask), UInt64(counter), value)
    }

    /// Adds `value` to `counter` in `shard` (relaxed, a locked add).
    @inline(__always)
    func add(_ counter: Int, _ value: UInt64, shard: Int) {
        cmapper_add_relaxed(word(counter, shard), value)
    }

    /// The total of `counter` over all shards (relaxed loads).
    func sum(_ counter: Int) -> UInt64 {
        var total: UInt64 = 0
        for shard in 0..<Self.shardCount { total &+= cmapper_load_relaxed(word(counter, shard)) }
        return total
    }

    /// Adds `value` (which may be negative) to `counter` in `shard`, sequentially consistent.
    @inline(__always)
    func addSequentially(_ counter: Int, _ value: Int64, shard: Int) {
        word(counter, shard).withMemoryRebound(to: Int64.self, capacity: 1) { cmapper_add_seq_cst($0, value) }
    }

    /// The total of `counter` over all shards, each load sequentially consistent. A single
    /// shard may be negative (a bio counted on one CPU and taken out on another).
    func sumSequentially(_ counter: Int) -> Int64 {
        var total: Int64 = 0
        for shard in 0..<Self.shardCount {
            total &+= word(counter, shard).withMemoryRebound(to: Int64.self, capacity: 1) { cmapper_load_seq_cst($0) }
        }
        return total
    }
}
