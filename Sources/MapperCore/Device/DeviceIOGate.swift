import Synchronization

/// The lock-free part of a device's I/O path: dm's `md->pending` as an atomic, and a gate
/// that says whether a bio may skip the device lock.
///
/// **The fast path.** A bio may be submitted and completed without the device lock when the
/// gate is open: the device has a live table, is not blocking I/O (`DMF_BLOCK_IO`), is not
/// noflush-suspending, holds no I/O (so the queue limits have nothing to say) and is not
/// removed. ``DeviceState`` keeps the gate true to those fields: each of them refreshes it in
/// its `didSet`, under the device lock, so no writer can forget it. On the fast path:
/// - submission increments `pending`, then reads the gate again: still open, it maps the bio
///   through ``table``; closed meanwhile, it takes the increment back (``release()``) and
///   goes the locked way;
/// - completion of a bio with one clone, never journaled, ending with ok or an error (not a
///   requeue) ends the bio, then decrements `pending` (``release()``).
/// Everything else (several clones, a requeue, anything held) takes the device lock as
/// before, and there the `noflushSuspending` check and the pushback append stay one step.
///
/// **Why a suspend cannot miss a bio.** Suspend closes the gate (sets `blockIO`) and then
/// reads `pending`; a fast submitter increments `pending` and then reads the gate. All four
/// accesses are sequentially consistent, so at least one side sees the other (Dekker): the
/// suspend waits for the bio, or the bio sees the gate closed and backs out before mapping.
/// A backing-out submitter never issues I/O, so a suspend that sees `pending == 0` between
/// its increment and decrement is right to finish.
///
/// **Why the waiting suspend is woken exactly once.** ``release()`` that brings `pending` to
/// 0 while the gate is closed takes the lock and, if `pending` is still 0, takes every
/// suspend waiter (`takeAll`): a waiter can be taken once only. The suspend registers under
/// the same lock and returns at once if `pending` is already 0. When the last decrement ran
/// before the gate closed, the suspend's own read of `pending` (after closing it) sees 0.
///
/// **The table.** ``table`` is read without the lock by submitters that passed the gate. It
/// is written only where the live table changes: the resume swap (suspended: gate closed,
/// `pending` drained, so no submitter is between its gate check and its read) and recovery
/// (before any I/O). Removal drops the live table but leaves this reference: closed gate, no
/// new readers, and bios in flight keep theirs.
final class DeviceIOGate: Sendable {
    let open = Atomic<Bool>(false)
    let pending = Atomic<Int>(0)
    nonisolated(unsafe) var table: Table?

    init() {}

    /// Whether the gate is open now.
    @inline(__always)
    var isOpen: Bool { open.load(ordering: .sequentiallyConsistent) }

    /// Counts a bio in `pending`.
    @inline(__always)
    func acquire(_ count: Int = 1) {
        pending.add(count, ordering: .sequentiallyConsistent)
    }

    /// Takes one bio out of `pending`; returns whether it was the last one while the gate is
    /// closed (the caller must then wake the suspend waiters under the device lock).
    @inline(__always)
    func release() -> Bool {
        let left = pending.subtract(1, ordering: .sequentiallyConsistent).newValue
        assert(left >= 0, "pending went below zero: a bio ended twice")
        return left == 0 && !isOpen
    }

    var pendingCount: Int { pending.load(ordering: .sequentiallyConsistent) }
}
