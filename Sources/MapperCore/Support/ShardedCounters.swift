import CMapperSys
import Foundation

/// A block of 64-bit counters kept once per CPU shard (dm's percpu counters), so that
/// submitters running on different CPUs never write the same cache line.
///
/// **Layout.** One raw allocation, aligned to 128 bytes; each shard owns `width` words
/// rounded up to a multiple of 16 (128 bytes, two cache lines: the adjacent-line prefetcher
/// pairs them). Nothing else lives in those lines.
///
/// **Shards.** One per possible CPU id (``shardCount``: the highest id the kernel may ever
/// use, offline and hot-pluggable CPUs included, plus one, rounded up to a power of two; no
/// cap), so that every CPU has a shard of its own. The shard of a call is the CPU the thread
/// runs on (one load from the thread's rseq area: no call, no system call). A thread may
/// migrate between reading its shard and writing it; that only costs contention, because
/// every add to a given shard is atomic against every other (see **Operations**).
///
/// **Operations.** ``add(_:_:)``, ``add(_:_:shard:)`` and ``sum(_:)`` are relaxed: for
/// statistics, whose readers want a recent total, not a snapshot. ``add(_:_:)`` adds on the
/// calling CPU's shard inside a restartable sequence (`cmapper_percpu_add`: a plain add, no
/// locked instruction, where the thread has an rseq area; a locked add otherwise). rseq
/// protects that plain add against preemption and migration on its CPU, not against another
/// CPU adding to the same word, so it is used only when every possible CPU has a shard of
/// its own (``exclusiveShards``); a block with fewer shards (which ``init(width:shards:)``
/// allows) adds with a locked add, so sums stay exact. ``add(_:_:shard:)`` is always a
/// locked add.
/// ``addSequentially(_:_:shard:)`` and
/// ``sumSequentially(_:)`` are sequentially consistent: for a count that takes part in a
/// Dekker handshake with a flag (``DeviceIOGate``'s `pending`). A sum is not an atomic
/// snapshot of all shards; the users state why that is enough.
final class ShardedCounters: @unchecked Sendable {
    /// Number of shards by default: every possible CPU id has its own (a power of two).
    static let shardCount: Int = {
        let cpus = max(Int(cmapper_possible_cpus()), 1)
        var count = 1
        while count < cpus { count <<= 1 }
        return count
    }()

    /// This block's number of shards (a power of two).
    let shards: Int
    /// ``shards`` - 1, stored, so that the hot path reads no lazily initialised global.
    let shardMask: Int
    /// Whether no two possible CPUs share a shard: the condition for ``add(_:_:)``'s plain add.
    let exclusiveShards: Bool

    /// The shard of the calling thread's CPU now.
    @inline(__always)
    var shardOfCurrentCPU: Int { Int(truncatingIfNeeded: cmapper_current_cpu()) & shardMask }

    /// Counters per shard.
    let width: Int
    private let stride: Int
    nonisolated(unsafe) private let words: UnsafeMutablePointer<UInt64>

    /// `width` counters per shard, in `shards` shards (a power of two; by default one per
    /// possible CPU). Fewer shards than CPUs only make CPUs share them (tests).
    init(width: Int, shards: Int = ShardedCounters.shardCount) {
        precondition(width > 0)
        precondition(shards > 0 && shards & (shards - 1) == 0, "the shard count must be a power of two")
        self.width = width
        self.shards = shards
        shardMask = shards - 1
        exclusiveShards = shards >= Int(cmapper_possible_cpus())
        stride = (width + 15) & ~15
        let bytes = stride * 8 * shards
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 128)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        words = raw.bindMemory(to: UInt64.self, capacity: stride * shards)
    }

    deinit { UnsafeMutableRawPointer(words).deallocate() }

    @inline(__always)
    private func word(_ counter: Int, _ shard: Int) -> UnsafeMutablePointer<UInt64> {
        words + (shard &* stride &+ counter)
    }

    /// Adds `value` to `counter` in the calling CPU's shard (relaxed; no locked instruction
    /// where the thread has an rseq area and the CPU its own shard: see the type's comment).
    @inline(__always)
    func add(_ counter: Int, _ value: UInt64) {
        if exclusiveShards {
            cmapper_percpu_add(words, UInt64(stride), UInt64(shardMask), UInt64(counter), value)
        } else {
            cmapper_add_relaxed(word(counter, shardOfCurrentCPU), value)
        }
    }

    /// Adds `value` to `counter` in `shard` (relaxed, a locked add).
    @inline(__always)
    func add(_ counter: Int, _ value: UInt64, shard: Int) {
        cmapper_add_relaxed(word(counter, shard), value)
    }

    /// The total of `counter` over all shards (relaxed loads).
    func sum(_ counter: Int) -> UInt64 {
        var total: UInt64 = 0
        for shard in 0..<shards { total &+= cmapper_load_relaxed(word(counter, shard)) }
        return total
    }

    /// Adds `value` (which may be negative) to `counter` in `shard`, sequentially consistent.
    @inline(__always)
    func addSequentially(_ counter: Int, _ value: Int64, shard: Int) {
        word(counter, shard).withMemoryRebound(to: Int64.self, capacity: 1) { cmapper_add_seq_cst($0, value) }
    }

    /// The total of `counter` over all shards, each load sequentially consistent. A single
    /// shard may be negative if a caller takes a count out on another shard than it added it
    /// on; only the sum means anything.
    func sumSequentially(_ counter: Int) -> Int64 {
        var total: Int64 = 0
        for shard in 0..<shards {
            total &+= word(counter, shard).withMemoryRebound(to: Int64.self, capacity: 1) { cmapper_load_seq_cst($0) }
        }
        return total
    }
}
