import Synchronization

/// The lock-free part of a device's I/O path: dm's `md->pending` as per-CPU atomics, and a gate
/// that says whether a bio may skip the device lock.
///
/// **The fast path.** A bio may be submitted and completed without the device lock when the
/// gate is open: the device has a live table, is not blocking I/O (`DMF_BLOCK_IO`), is not
/// noflush-suspending, holds no I/O (so the queue limits have nothing to say) and is not
/// removed. That rule is ``DeviceStateMachine/gateOpen``, and ``DeviceState/apply(_:)``, the
/// only way to change the machine, copies it here under the device lock after every input, so
/// no writer can forget it. On the fast path:
/// - submission increments `pending`, then reads the gate again: still open, it maps the bio
///   through ``table``; closed meanwhile, it takes the increment back (``release(shard:)``) and
///   goes the locked way;
/// - completion of a bio with one clone, never journaled, ending with ok or an error (not a
///   requeue) ends the bio, then decrements `pending` (``release(shard:)``).
/// Everything else (several clones, a requeue, anything held) takes the device lock as
/// before, and there the `noflushSuspending` check and the pushback append stay one step.
///
/// **`pending` per CPU.** `pending` is kept in ``ShardedCounters`` (one word per CPU shard),
/// so two submitters on different CPUs write different cache lines. A bio is counted on the
/// shard of the CPU that submits it, which the bio remembers (`Bio.shard`), and taken out of
/// that same shard when it ends, wherever that is; a submitter that backs out of a closed
/// gate takes its count out of the shard it put it in (``release(shard:)``). So no shard
/// goes negative, though only the sum means anything.
///
/// **Why a suspend cannot miss a bio.** Suspend closes the gate (sets `blockIO`) and then
/// sums `pending`; a fast submitter increments its shard and then reads the gate. All of
/// these accesses are sequentially consistent, so at least one side sees the other (Dekker):
/// the suspend's sum includes the bio, or the bio sees the gate closed and backs out before
/// mapping. A backing-out submitter never issues I/O, so a suspend that sees `pending == 0`
/// between its increment and decrement is right to finish.
///
/// **Why a sum of 0 is never false.** The shards are read one after another, not as one
/// snapshot. Every bio that passed the gate was counted before the gate closed, so the sum
/// (read after the close) includes its increment; a decrement the sum includes belongs to a
/// bio that has ended, or to a back-out whose increment is in the same shard and was written
/// first. So the sum is at least the number of bios in flight. It may be higher for a moment
/// (a back-out's increment read, its decrement not yet): then that back-out's own release
/// sums again, below.
///
/// **Why the waiting suspend is woken exactly once.** Each ``release(shard:)`` while the gate
/// is closed tells its caller to take the lock and sum `pending`; if the sum is 0 it takes
/// every suspend waiter (`takeAll`): a waiter can be taken once only. The last release in
/// the sequentially consistent order sums after every other write, so it sees 0. The suspend
/// registers under the same lock and returns at once if the sum is already 0. When the last
/// decrement ran before the gate closed, the suspend's own sum (after closing it) sees 0.
///
/// **The table.** ``table`` is read without the lock by submitters that passed the gate. It
/// is written only where the live table changes: the resume swap (suspended: gate closed,
/// `pending` drained, so no submitter is between its gate check and its read) and recovery
/// (before any I/O). Removal drops the live table but leaves this reference: closed gate, no
/// new readers, and bios in flight keep theirs. So a bio in flight never outlives the table
/// it was split through, and its clones may refer to that table's targets without a
/// reference count of their own (``Clone``).
final class DeviceIOGate: @unchecked Sendable {
    /// Keeps ``open`` and ``table`` (read by every bio) off the cache lines of neighbouring
    /// allocations, which may be written all the time.
    private let leadingPad: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    let open = Atomic<Bool>(false)
    /// The live table, owned here (see "The table").
    nonisolated(unsafe) var table: Table? {
        didSet { unmanagedTable = table.map { Unmanaged.passUnretained($0) } }
    }
    /// ``table`` without a reference count, for the fast path: a submitter that passed the
    /// gate borrows it (`_withUnsafeGuaranteedRef`) instead of writing its shared count.
    nonisolated(unsafe) private(set) var unmanagedTable: Unmanaged<Table>?
    private let trailingPad: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private let pending = ShardedCounters(width: 1)

    init() {}

    /// Whether the gate is open now.
    @inline(__always)
    var isOpen: Bool { open.load(ordering: .sequentiallyConsistent) }

    /// Counts a bio in `pending` on the calling CPU's shard, which it returns (for a
    /// back-out's ``release(shard:)``).
    @inline(__always)
    @discardableResult
    func acquire(_ count: Int = 1) -> Int {
        let shard = pending.shardOfCurrentCPU
        pending.addSequentially(0, Int64(count), shard: shard)
        return shard
    }

    /// Takes one bio out of `pending` on `shard`, the one ``acquire(_:)`` counted it on;
    /// returns whether the gate is closed, when the caller must take the device lock and wake
    /// the suspend waiters if ``pendingCount`` is 0 there.
    @inline(__always)
    func release(shard: Int) -> Bool {
        pending.addSequentially(0, -1, shard: shard)
        return !isOpen
    }

    /// The number of bios in flight (a sum over the shards: see the type's comment).
    var pendingCount: Int {
        let count = pending.sumSequentially(0)
        assert(count >= 0, "pending went below zero: a bio ended twice")
        return Int(count)
    }
}
