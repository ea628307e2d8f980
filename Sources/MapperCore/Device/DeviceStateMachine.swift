/// A mapped device's life as a pure state machine (dm's `md->flags`, its two table slots and
/// its `deferred` and pushback lists; SEMANTICS §3–§4): every input is a `mutating` method that
/// changes the state and returns what the owner must do, in order. No locks, no threads, no
/// I/O; tested as tables of inputs and expected actions.
///
/// **Threading.** The owner (``MappedDevice``) keeps the machine inside its state lock and
/// feeds it one input at a time there; it carries out the returned actions after the lock
/// (hooks, waits, re-issue, persistence, events), except where an action's comment says it
/// belongs in the same locked step. Control inputs (create, load, clear, suspend, resume,
/// remove, restore) arrive serialised by the owner's control lock, as dm serialises them with
/// `suspend_lock`; I/O inputs (a bio deferred, pushed back, queued in a target, released)
/// arrive at any time between them.
///
/// **The gate.** ``gateOpen`` is the one place that says whether a bio may skip the device
/// lock (``DeviceIOGate``): a live table, not blocking I/O, not noflush-suspending, holding
/// nothing, not removed. The owner copies it to the gate after every input.
///
/// **What the machine does not hold.** `pending` (the atomics of ``DeviceIOGate``) arrives as
/// inputs: ``pendingWaitEnded(drained:pendingNow:)`` and the `pending` argument of
/// ``remove(force:pending:tableOpens:externalOpens:)``. Continuations, event numbers and the
/// journal stay with the owner.
///
/// `Held` is the owner's bio type and `TableRef` its table type (tests use plain values).
/// Errors carry messages the owner prefixes with the device's name.
struct DeviceStateMachine<Held: Sendable, TableRef: Sendable>: Sendable {
    /// The states a device is persisted in, for start-up (``restored(live:as:)``).
    enum PersistedState: Sendable, Equatable {
        case active
        case suspended
        /// Active, with a noflush suspend under way when the server stopped (bios were in
        /// pushback): it is ended as a noflush suspend followed by a resume would end it.
        case noflushSuspending
    }

    /// What the machine announces; the owner turns each into an engine event.
    enum Event: Sendable, Equatable {
        case tableLoaded
        case tableCleared
        case tableSwapped
        case suspendFailed(String)
        case suspendInterrupted(String)
        case suspended(noflush: Bool)
        case resumed(noflush: Bool)
    }

    /// What the owner persists.
    enum Record: Sendable, Equatable {
        /// The device's flags (``DeviceInfo``).
        case device
        /// The inactive slot's table text (or none).
        case inactiveTable
        /// Both slots after a swap, and the new live targets' run-time state.
        case swappedTables
    }

    /// What the owner carries out, in the order given.
    enum Action: Sendable {
        /// Run the targets' presuspend hooks; then feed ``presuspendDone(failurePoint:)``
        /// (a `nil` table: feed it at once).
        case presuspend(TableRef?)
        /// Run the targets' presuspend hooks of a device being removed by force (nothing
        /// follows: their queues fail with EIO).
        case presuspendForRemoval(TableRef)
        /// Wait until `pending` is 0, the suspend is interrupted, its deadline passes or the
        /// task is cancelled; then feed ``pendingWaitEnded(drained:pendingNow:)``.
        case waitForPending
        /// Run the targets' postsuspend hooks; then feed ``postsuspendDone()``.
        case postsuspend(TableRef?)
        /// Suspend first (with the resume's noflush); then feed ``resume(noflush:)`` again.
        case suspendFirst
        /// Fire the table-swap failure point; then feed ``swap(failurePoint:)``.
        case swap
        /// Run the targets' preresume hooks and wait for them (dm's `preresume`: a target
        /// loads what it needs before I/O reaches it). Every activation has it, start-up's too.
        case preresumeHooks(TableRef)
        /// Run the targets' resume hooks.
        case resumeHooks(TableRef)
        /// Journal these bios as moved from pushback to `deferred` at these order keys, and
        /// report them deferred.
        case movedToDeferred([Held], firstOrder: Int64)
        /// Re-issue `deferred` through the live table: feed ``takeDeferred()`` until it
        /// returns nil.
        case reissueDeferred
        /// End these held bios with this error, journaled as leaving pushback and `deferred`.
        case endHeld(pushback: [Held], deferred: [Held], Errno)
        /// Close the connections of outside openers (NBD clients).
        case revokeExternalOpens
        /// Destroy a table that left its slot.
        case destroy(TableRef)
        /// Wake the device's event waiters.
        case wakeEventWaiters
        /// Keep the device alive until `pending` drains (a forced removal with bios in
        /// flight). In the same locked step as the input that returned it.
        case keepAliveUntilDrained
        case persist(Record)
        case emit(Event)
        /// The operation fails with this error after the actions before it.
        case fail(Errno, String)
    }

    /// How a bio that a target asked to requeue ends (dm's `DM_ENDIO_REQUEUE`).
    enum Requeue: Sendable, Equatable {
        /// In pushback at this order key: a noflush suspend is under way.
        case pushedBack(order: Int64)
        /// No noflush suspend: the bio fails with EIO.
        case fail
    }

    private(set) var live: TableRef?
    private(set) var inactive: TableRef?
    /// dm's `DMF_BLOCK_IO`: new bios go to `deferred`. A new device blocks I/O.
    private(set) var blockIO = true
    /// dm's `DMF_NOFLUSH_SUSPENDING`.
    private(set) var noflushSuspending = false
    /// dm's `DMF_SUSPENDED`. A new device is suspended with no table, as a fresh dm device is.
    private(set) var suspended = true
    /// A suspend is between its first and last step.
    private(set) var suspending = false
    /// The running suspend was asked with noflush.
    private(set) var suspendNoflush = false
    /// An interrupt (timeout, cancellation, ``interruptSuspend()``) arrived for the running
    /// suspend.
    private(set) var suspendInterrupted = false
    /// The last suspend was asked with nolockfs (recorded only; there is no filesystem).
    private(set) var nolockfs = false
    private(set) var removed = false
    /// The host may not answer I/O on this device (its lease is about to expire, or the
    /// device's ownership is in doubt): new bios wait in `deferred` and nothing is re-issued
    /// until ``unfence()``. Orthogonal to suspend.
    private(set) var fenced = false
    private(set) var deferred: [Held] = []
    private(set) var pushback: [Held] = []
    /// Original bios with at least one clone in a target queue.
    private(set) var queuedBios = 0
    /// Bytes of the bios held in target queues, pushback and `deferred` (``QueueAdmission``).
    private(set) var heldBytes = 0
    /// Journal order keys: `deferred` grows at the tail; pushback moves to the head.
    private(set) var orderTail: Int64 = 0
    private(set) var orderHead: Int64 = 0

    init() {}

    /// Whether a bio may skip the device lock (``DeviceIOGate``).
    var gateOpen: Bool { live != nil && !blockIO && !noflushSuspending && heldBytes == 0 && !removed }

    /// Whether new bios are held (`blockIO`) or the device holds any, so the queue limits
    /// apply.
    var holdsIO: Bool { blockIO || heldBytes > 0 }

    // MARK: Tables

    /// A table built for the inactive slot replaces what was there.
    mutating func load(_ table: TableRef) throws(MapperError) -> [Action] {
        if removed { throw MapperError(.ENODEV, "removed") }
        let old = inactive
        inactive = table
        return (old.map { [.destroy($0)] } ?? []) + [.emit(.tableLoaded), .persist(.inactiveTable)]
    }

    /// Drops the inactive table (nothing without one).
    mutating func clear() -> [Action] {
        guard let old = inactive else { return [] }
        inactive = nil
        return [.destroy(old), .emit(.tableCleared), .persist(.inactiveTable)]
    }

    // MARK: Suspend

    /// Starts a suspend. Already suspended: nothing to do. Step 1 of SEMANTICS §4: the
    /// noflush flag is set before presuspend, where targets start handing back their queues.
    mutating func suspend(noflush: Bool, nolockfs: Bool) throws(MapperError) -> [Action] {
        if removed { throw MapperError(.ENODEV, "removed") }
        if suspended { return [] }
        precondition(!suspending, "suspends are serialised by the control lock")
        if noflush { noflushSuspending = true }
        self.nolockfs = nolockfs || noflush
        suspendNoflush = noflush
        suspending = true
        suspendInterrupted = false
        return [.presuspend(live)]
    }

    /// Presuspend ran; `failurePoint` is the error of the `suspend.after-presuspend` failure
    /// point if it fired (the seed's `bdget_disk` failure). Failed: the suspend ends, the
    /// noflush flag is undone and pushback goes back through `deferred` (step 8; presuspend is
    /// not undone). Otherwise `blockIO` is set (step 4) and the owner waits (step 5).
    mutating func presuspendDone(failurePoint: Errno?) -> [Action] {
        precondition(suspending, "presuspend without a suspend")
        blockIO = true
        guard let errno = failurePoint else { return [.waitForPending] }
        suspending = false
        let moved = endNoflushSuspending()
        let detail =
            "suspend failed after presuspend (\(errno.name)); pushed-back I/O re-issued; "
            + "presuspend is not undone: multipath queue_if_no_path stays off until a queue_if_no_path message"
        return moved + [.reissueDeferred, .emit(.suspendFailed(detail)), .fail(errno, detail)]
    }

    /// An interrupt for the running suspend (timeout, cancellation, an operator's cancel).
    /// Returns whether a suspend was running; the owner then wakes its waiter.
    mutating func interruptSuspend() -> Bool {
        guard suspending else { return false }
        suspendInterrupted = true
        return true
    }

    /// The wait for `pending` ended: `drained` when the last bio woke it, otherwise
    /// interrupted, with `pendingNow` bios pending when the owner looked again. Step 6 (the
    /// noflush flag cleared and pushback moved to the head of `deferred`) and step 7's
    /// decision, in one step: interrupted with I/O in flight, the device stays active and
    /// `deferred` is re-issued; drained (or nothing pending after all), postsuspend runs.
    mutating func pendingWaitEnded(drained: Bool, pendingNow: Int) -> [Action] {
        precondition(suspending, "a wait without a suspend")
        let moved = endNoflushSuspending()
        if !drained && pendingNow != 0 {
            suspending = false
            let detail =
                "suspend interrupted with I/O still in flight; device stays active; "
                + "presuspend is not undone: multipath queue_if_no_path stays off until a queue_if_no_path message"
            return moved + [.reissueDeferred, .emit(.suspendInterrupted(detail)), .fail(.EINTR, detail)]
        }
        return moved + [.postsuspend(live)]
    }

    /// Postsuspend ran: the device is suspended.
    mutating func postsuspendDone() -> [Action] {
        precondition(suspending, "postsuspend without a suspend")
        suspended = true
        suspending = false
        return [.emit(.suspended(noflush: suspendNoflush)), .persist(.device)]
    }

    /// Clears `noflushSuspending` and moves pushback to the head of `deferred`: pushed-back
    /// bios are older than those deferred during the suspend.
    private mutating func endNoflushSuspending() -> [Action] {
        guard noflushSuspending else { return [] }
        noflushSuspending = false
        guard !pushback.isEmpty else { return [] }
        let moved = pushback
        pushback = []
        orderHead -= Int64(moved.count)
        deferred = moved + deferred
        return [.movedToDeferred(moved, firstOrder: orderHead)]
    }

    // MARK: Resume

    /// Resumes (SEMANTICS §3). With a staged table: suspend first when active, then swap.
    /// Active with nothing staged: nothing to do. Suspended without a live table: EINVAL,
    /// stays suspended.
    mutating func resume(noflush: Bool) throws(MapperError) -> [Action] {
        if removed { throw MapperError(.ENODEV, "removed") }
        if inactive != nil { return suspended ? [.swap] : [.suspendFirst] }
        guard suspended else { return [] }
        return try activate(runningResumeHooks: true, announcing: noflush)
    }

    /// The swap of a resume with a staged table; `failurePoint` is the error of the
    /// `resume.swap` failure point if it fired (the device then stays suspended, its I/O held).
    mutating func swap(failurePoint: Errno?, noflush: Bool) throws(MapperError) -> [Action] {
        precondition(suspended, "a swap needs a suspended device")
        if let errno = failurePoint {
            throw MapperError(errno, "table swap failed; it stays suspended with its I/O held")
        }
        guard let staged = inactive else { return try activate(runningResumeHooks: true, announcing: noflush) }
        let old = live
        live = staged
        inactive = nil
        let swapped: [Action] = (old.map { [.destroy($0)] } ?? []) + [.emit(.tableSwapped), .persist(.swappedTables)]
        return swapped + (try activate(runningResumeHooks: true, announcing: noflush))
    }

    /// The end of every resume: the preresume hooks, the resume hooks (not at start-up), then
    /// active with `blockIO` still set until
    /// `deferred` has been re-issued in order (``takeDeferred()``); announced and persisted
    /// (`announcing` is the resume's noflush), except at start-up (nil).
    private mutating func activate(runningResumeHooks: Bool, announcing noflush: Bool?) throws(MapperError)
        -> [Action]
    {
        guard let live else { throw MapperError(.EINVAL, "no live table to resume") }
        suspended = false
        blockIO = true
        let announced: [Action] = noflush.map { [.emit(.resumed(noflush: $0)), .persist(.device)] } ?? []
        return [.preresumeHooks(live)] + (runningResumeHooks ? [.resumeHooks(live)] : []) + [.reissueDeferred]
            + announced
    }

    /// One pass of the re-issue: takes all of `deferred` with the live table to send it
    /// through (nil: end it with EIO). Returns nil, and stops blocking I/O in the same step,
    /// once `deferred` is empty; new bios stay behind the old ones until then (dm holds
    /// `io_lock` for writing while it flushes `deferred`). A suspended or removed device
    /// keeps blocking.
    mutating func takeDeferred() -> (bios: [Held], table: TableRef?)? {
        guard !fenced else { return nil }
        guard deferred.isEmpty else {
            let bios = deferred
            deferred = []
            return (bios, live)
        }
        if !suspended && !suspending && !removed { blockIO = false }
        return nil
    }

    // MARK: Fence

    /// The host fences itself: new bios wait in `deferred` (journaled as any deferred bio),
    /// bios already issued run to their end, nothing waiting is re-issued.
    mutating func fence() {
        fenced = true
        blockIO = true
    }

    /// The fence lifts: a device that is neither suspended nor being suspended or removed
    /// re-issues what waited (as a resume does); otherwise its own resume will.
    mutating func unfence() -> [Action] {
        guard fenced else { return [] }
        fenced = false
        return suspended || suspending || removed ? [] : [.reissueDeferred]
    }

    // MARK: Remove

    /// Removal (SEMANTICS §3): EBUSY while another table uses the device, while an outside
    /// client has it open or while it has I/O or a suspend under way, unless `force`. Forced:
    /// outside opens are revoked, held bios end with EIO, the live targets' presuspend runs
    /// without noflush (their queues fail with EIO), I/O in flight ends on its own.
    mutating func remove(force: Bool, pending: Int, tableOpens: Int, externalOpens: Int) throws(MapperError)
        -> [Action]
    {
        if removed { throw MapperError(.ENODEV, "removed") }
        if tableOpens > 0 { throw MapperError(.EBUSY, "open (\(tableOpens)) by another table") }
        if externalOpens > 0 && !force {
            throw MapperError(.EBUSY, "open by \(externalOpens) client(s) (NBD); use force")
        }
        if (pending > 0 || !deferred.isEmpty || !pushback.isEmpty || suspending) && !force {
            throw MapperError(
                .EBUSY, "I/O in flight or queued (\(pending) pending, \(deferred.count) deferred); use force")
        }
        removed = true
        blockIO = true
        var actions: [Action] = pending > 0 ? [.keepAliveUntilDrained] : []
        if force { actions.append(.revokeExternalOpens) }
        if !pushback.isEmpty || !deferred.isEmpty {
            actions.append(.endHeld(pushback: pushback, deferred: deferred, .EIO))
        }
        pushback = []
        deferred = []
        if force, let live { actions.append(.presuspendForRemoval(live)) }
        for table in [live, inactive].compactMap({ $0 }) { actions.append(.destroy(table)) }
        live = nil
        inactive = nil
        return actions + [.wakeEventWaiters]
    }

    // MARK: Start-up

    /// A persisted device comes back: its live table (nil when it no longer builds) goes
    /// straight into the live slot with no I/O, after its recovered bios were deferred
    /// (``deferBio()``). Unless it was suspended (or has no live table), it is made active
    /// again without its resume hooks: its targets' restored state is what it was, and a
    /// failed or interrupted suspend's presuspend stays in force. A noflush suspend under way
    /// is ended as a noflush suspend and resume would end it: with the hooks.
    mutating func restored(live table: TableRef?, as persisted: PersistedState) -> [Action] {
        precondition(suspended && live == nil, "restore applies to a new device")
        live = table
        guard table != nil, persisted != .suspended else { return [] }
        // Cannot fail: the live table is there.
        return (try? activate(runningResumeHooks: persisted == .noflushSuspending, announcing: nil)) ?? []
    }

    // MARK: Held bios

    /// A new bio waits in `deferred` (the device blocks I/O), or a recovered one goes back
    /// there; returns its order key. The owner counts its bytes (``held(bytes:)``).
    mutating func deferBio(_ bio: Held) -> Int64 {
        deferred.append(bio)
        orderTail += 1
        return orderTail
    }

    /// A target asked to requeue `bio`: into pushback while noflush-suspending (this check
    /// and the append are one step, dm's `pushback_lock`), otherwise it fails.
    mutating func requeue(_ bio: Held) -> Requeue {
        guard noflushSuspending else { return .fail }
        pushback.append(bio)
        return .pushedBack(order: Int64(pushback.count))
    }

    /// A bio's first clone entered a target queue; returns its order key.
    mutating func bioQueued(firstClone: Bool) -> Int64 {
        if firstClone { queuedBios += 1 }
        orderTail += 1
        return orderTail
    }

    /// A bio's last queued clone left its target queue.
    mutating func bioDequeued() {
        precondition(queuedBios > 0, "a bio left a target queue it was not in")
        queuedBios -= 1
    }

    /// Bytes held in queues grew or shrank by `delta`.
    mutating func held(bytes delta: Int) {
        heldBytes += delta
        precondition(heldBytes >= 0, "held bytes went below zero")
    }
}

extension DeviceStateMachine.Action: Equatable where Held: Equatable, TableRef: Equatable {}
