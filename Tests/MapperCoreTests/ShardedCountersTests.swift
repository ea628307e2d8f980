import CMapperSys
import Foundation
import Synchronization
import Testing

@testable import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// `ShardedCounters`: per-CPU words whose sums are exact.
@Suite("Per-CPU counters")
struct ShardedCountersTests {
    @Test("every possible CPU id has a shard of its own; the shard count is a power of two")
    func shardCount() {
        let count = ShardedCounters.shardCount
        let possible = Int(cmapper_possible_cpus())
        #expect(count >= possible && count & (count - 1) == 0 && count < 2 * max(possible, 1))
        #expect(possible >= ProcessInfo.processInfo.activeProcessorCount)
        let counters = ShardedCounters(width: 1)
        #expect(Int(cmapper_current_cpu()) == counters.shardOfCurrentCPU || Int(cmapper_current_cpu()) >= count)
        #expect((0..<count).contains(counters.shardOfCurrentCPU))
    }

    /// rseq makes a plain add safe against preemption on its own CPU, not against another CPU
    /// adding to the same word. Two threads bound to two CPUs that share the only shard make
    /// exactly that happen millions of times: with a plain add inside the sequence on a shared
    /// shard, counts are lost (a harness lost about 10 %); the sums must be exact.
    @Test(
        "two CPUs that share one shard lose no count",
        .enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs two CPUs"))
    func sharedShardIsExact() async {
        let counters = ShardedCounters(width: 1, shards: 1)
        let adds = 2_000_000
        let finished = DispatchGroup()
        let bound = Atomic<Int>(0)
        for cpu in Int32(0)...1 {
            finished.enter()
            let thread = Thread {
                if cmapper_bind_thread_to_cpu(cpu) == 0 && cmapper_current_cpu() == cpu {
                    bound.add(1, ordering: .relaxed)
                }
                for _ in 0..<adds { counters.add(0, 1) }
                finished.leave()
            }
            thread.start()
        }
        await withCheckedContinuation { continuation in
            finished.notify(queue: .global()) { continuation.resume() }
        }
        #expect(bound.load(ordering: .relaxed) == 2, "the threads could not be bound to CPUs 0 and 1")
        #expect(counters.sum(0) == UInt64(2 * adds))
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
                        counters.addSequentially(0, 1, shard: counters.shardOfCurrentCPU)
                    }
                }
            }
        }
        #expect(counters.sum(1) == 40_000)
        #expect(counters.sumSequentially(0) == 40_000)
    }

    @Test("the CPU read from the rseq area is the one sched_getcpu reports")
    func currentCPU() {
        let cpus = Int32(ProcessInfo.processInfo.activeProcessorCount)
        // The thread may migrate between the two reads: they must agree on some try.
        var agreed = false
        for _ in 0..<1_000 where !agreed {
            let fast = cmapper_current_cpu()
            let slow = cmapper_sched_getcpu()
            #expect(fast >= 0 && fast < max(cpus, fast + 1))
            agreed = fast == slow
        }
        #expect(agreed)
    }

    /// A thread preempted between reading its CPU and its non-locked add, then run on another
    /// CPU, would add into a shard that another thread may be adding to at the same time: the
    /// kernel must abort and restart every such sequence. That race is too rare to catch in a
    /// test, so the check is that the kernel honours the sequence: with a busy loop inside it
    /// (the same asm, widened) and four times as many threads as CPUs, preemption inside the
    /// window is common, and each must show up as an abort, with the sums still exact. A
    /// wrong descriptor (start, length, abort handler) gives no aborts; a wrong signature gets
    /// the process killed. The production adds run beside them and must sum exactly too.
    @Test("adds in the restartable sequence are aborted and restarted, and lose nothing")
    func restartableAddsUnderPreemption() async {
        let counters = ShardedCounters(width: 3)
        let shards = ShardedCounters.shardCount
        let widened = UnsafeMutablePointer<UInt64>.allocate(capacity: 16 * shards)
        widened.initialize(repeating: 0, count: 16 * shards)
        defer { widened.deallocate() }
        let aborts = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        aborts.initialize(to: 0)
        defer { aborts.deallocate() }
        nonisolated(unsafe) let words = widened
        nonisolated(unsafe) let abortCount = aborts
        let threads = 4 * max(ProcessInfo.processInfo.activeProcessorCount, 2)
        let adds = 20_000
        let finished = DispatchGroup()
        let unrestartableThreads = Atomic<Int>(0)
        for index in 0..<threads {
            finished.enter()
            let thread = Thread {
                if cmapper_percpu_add_is_restartable() == 0 { unrestartableThreads.add(1, ordering: .relaxed) }
                for _ in 0..<adds {
                    cmapper_percpu_add_widened(words, 16, UInt64(shards - 1), 3, 1, 4_000, abortCount)
                    counters.add(0, 1)
                    counters.add(2, UInt64(index + 1))
                }
                finished.leave()
            }
            thread.start()
        }
        await withCheckedContinuation { continuation in
            finished.notify(queue: .global()) { continuation.resume() }
        }
        let widenedSum = (0..<shards).reduce(UInt64(0)) { $0 + words[$1 * 16 + 3] }
        #expect(widenedSum == UInt64(threads * adds))
        #expect(counters.sum(0) == UInt64(threads * adds))
        #expect(counters.sum(2) == UInt64(adds * threads * (threads + 1) / 2))
        #expect(counters.sum(1) == 0)
        let aborted = abortCount.pointee
        if unrestartableThreads.load(ordering: .relaxed) == 0 {
            #expect(aborted > 0, "no sequence was aborted: the kernel does not see it")
        } else {
            #expect(aborted == 0)
        }
    }
}
