import Foundation
import Synchronization

/// One I/O request submitted to a mapped device (dm's `struct bio` plus its `dm_io`).
///
/// The request part (id, op, sectors, buffer) is set at creation and never changes.
/// The aggregation state (`remaining`, `outcome`, `queuedClones`, held bytes) belongs to the
/// device the bio was submitted to and, once the bio's clones are issued, is touched only under
/// that device's lock (or by the one clone of a bio on the fast path: ``DeviceIOGate``). The
/// observable part (queue state, waiters, end-I/O receiver) has its own lock; the end itself
/// is one atomic word (``endWord``).
///
/// A bio is also the storage of its first clone (``CloneStorage``), so that a bio inside one
/// target costs one allocation.
public final class Bio: CloneStorage, @unchecked Sendable {
    /// The request part, in one private stored constant.
    private struct Request {
        var id: UInt64
        var op: BioOp
        var sector: UInt64
        var sectors: UInt64
        var buffer: IOBuffer?
        var bufferOffset: Int
        var startedNanos: Int64
    }

    /// Replaced only by ``renew(id:op:sector:sectors:buffer:bufferOffset:endIO:)``, when the
    /// caller holds the only reference.
    private var request: Request

    /// Unique within the engine.
    public var id: UInt64 { request.id }
    public var op: BioOp { request.op }
    /// First sector on the device.
    public var sector: UInt64 { request.sector }
    /// Length in sectors (0 for flush).
    public var sectors: UInt64 { request.sectors }
    /// Write payload or read destination; `nil` for flush and discard.
    public var buffer: IOBuffer? { request.buffer }
    /// Where this bio's bytes start inside ``buffer``.
    public var bufferOffset: Int { request.bufferOffset }
    /// The client's idempotency key, if any.
    public let idempotencyKey: String?
    /// ``MonotonicClock`` at creation (or at the original submission, for a bio restored from
    /// the journal): the start of its latency and its `submittedAt`.
    var startedNanos: Int64 { request.startedNanos }
    /// When the bio was created.
    public var submittedAt: Date { MonotonicClock.date(startedNanos) }

    struct Aggregation {
        /// Clones not yet ended (dm's `io_count`).
        var remaining = 0
        /// dm's `io->error`: ok, an errno, or requeue.
        var outcome = CloneOutcome.ok
        /// Clones currently held in target queues.
        var queuedClones = 0
        /// Whether the journal holds a record of this bio.
        var journaled = false
        /// Bytes counted in the device's held bytes while the bio is held.
        var heldBytes = 0
    }

    /// The observable state before the end (the end itself is ``endWord``), and who wants to
    /// know of changes.
    struct Observable {
        /// Where the bio is while it has not ended (never `.completed` or `.failed`).
        var state = BioState.inflight
        var durable = false
        var waiters = WaiterList<Errno?>()
        var stateWaiters = WaiterList<Void>()
        /// A receiver given after creation (``setEndIO(_:)``).
        var endIO: BlockCompleter?
    }

    /// Set up by the submitting thread in `split` before any clone is issued (no other thread
    /// can see the bio yet), then touched only under the owning device's lock.
    nonisolated(unsafe) var aggregation = Aggregation()
    /// The CPU shard (``ShardedCounters``) the bio was last counted in `pending` on; its end
    /// takes it out of `pending` on the same shard, which saves asking for the CPU again and
    /// is right for any shard. Written by the submitting thread before the bio is split.
    nonisolated(unsafe) var shard = 0
    private let observable: Mutex<Observable>
    /// The next spare bio of a ``BioCache`` while this one is spare (touched only by the
    /// cache's owner).
    nonisolated(unsafe) var nextSpare: Bio?
    /// The end-I/O receiver given at creation (an export's request, a remapped request): it
    /// does not change while anyone else can see the bio, so the end calls it without the lock.
    private var completer: BlockCompleter?
    /// The end, written once by the first ``endIO(_:endedAt:)`` with one compare-exchange:
    /// 0 while the bio has not ended, otherwise its outcome and time (``BioEnd``).
    ///
    /// **Ending without the lock.** A bio nobody waits for ends with that one
    /// compare-exchange and a call of the receiver it was created with, if any. Anyone who
    /// registers a waiter, a state waiter or a later end-I/O receiver first sets ``observed`` and then reads this word (both
    /// sequentially consistent, under the lock); ``endIO(_:endedAt:)`` writes this word and
    /// then reads ``observed``. So at least one side sees the other (Dekker): the registrant
    /// sees the end and does not wait, or the finisher sees ``observed`` and takes the lock,
    /// after the registrant's, to wake what it registered.
    private let endWord = Atomic<UInt64>(0)
    /// Whether anyone has ever registered to learn of the end (see ``endWord``).
    private let observed = Atomic<Bool>(false)

    public init(
        id: UInt64, op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?,
        bufferOffset: Int = 0, idempotencyKey: String? = nil, submittedAt: Date? = nil,
        endIO: (any BlockIOCompletion)? = nil
    ) {
        self.request = Request(
            id: id, op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: bufferOffset,
            startedNanos: submittedAt.map(MonotonicClock.reading) ?? MonotonicClock.now())
        self.idempotencyKey = idempotencyKey
        self.observable = Mutex(Observable())
        self.completer = endIO.map(BlockCompleter.receiver)
        super.init()
    }

    /// A bio whose end completes `request` (a request remapped onto a mapped device).
    init(id: UInt64, completing request: BlockRequest) {
        self.request = Request(
            id: id, op: request.op, sector: request.sector, sectors: request.sectors, buffer: request.buffer,
            bufferOffset: request.bufferOffset, startedNanos: MonotonicClock.now())
        self.idempotencyKey = nil
        self.observable = Mutex(Observable())
        self.completer = request.completer
        super.init()
    }

    /// Length in bytes.
    public var byteCount: Int { Int(sectors) << 9 }

    private var end: BioEnd? { BioEnd(endWord.load(ordering: .acquiring), startedNanos: startedNanos) }

    /// The current state.
    public var state: BioState {
        if let end { return end.state }
        return observable.withLock { $0.state }
    }
    /// The error a failed bio ended with.
    public var error: Errno? { end?.error }
    /// When the bio ended (`nil` while it has not), to within 64 ns.
    public var completedAt: Date? { end.map { MonotonicClock.date($0.completedNanos) } }
    /// ``MonotonicClock`` when the bio ended (`nil` while it has not), to within 64 ns: the
    /// reading its latency was counted with, so a caller that needs the time of the end (an
    /// NBD connection's idle clock) need not read the clock again.
    public var completedNanos: Int64? { end?.completedNanos }
    /// State, durability, error and end time read together. `durable` is true only while the
    /// bio sits in a queue (target queue, pushback, deferred) whose journal entry has been
    /// committed (``isDurablyQueued``); an ended bio is never `durable` (its outcome is final).
    public var outcome: (state: BioState, durable: Bool, error: Errno?, completedAt: Date?) {
        if let end { return (end.state, false, end.error, MonotonicClock.date(end.completedNanos)) }
        let (state, durable) = observable.withLock { ($0.state, $0.durable && $0.state.isQueued) }
        // It may have ended since the first look: the end wins.
        if let end { return (end.state, false, end.error, MonotonicClock.date(end.completedNanos)) }
        return (state, durable, nil, nil)
    }

    /// Whether the journal has durably recorded the bio's current queue position.
    public var isDurablyQueued: Bool {
        observable.withLock { $0.durable && $0.state.isQueued } && endWord.load(ordering: .acquiring) == 0
    }

    /// Tasks waiting for this bio right now (diagnostics: an answered request leaves none).
    public var waiterCount: Int { observable.withLock { $0.waiters.count + $0.stateWaiters.count } }

    /// The outcome if the bio has ended: `.some(error)`; `nil` while it has not.
    public var ended: Errno?? {
        guard let end else { return .none }
        return .some(end.error)
    }

    /// Under the lock, before registering anything that must learn of the end: announces
    /// it (see ``endWord``) and returns the end if it already happened.
    private func observe() -> Errno?? {
        observed.store(true, ordering: .sequentiallyConsistent)
        let word = endWord.load(ordering: .sequentiallyConsistent)
        if word == 0 { return .none }
        return .some(BioEnd(word, startedNanos: startedNanos)?.error)
    }

    /// Waits for the bio to end and returns its error (`nil` on success). Returns at once if it
    /// has already ended. Any number of callers may wait. Not cancellable: a bio always ends,
    /// and this wait is how its submitter learns the outcome (see ``wait(deadline:)``).
    public func wait() async -> Errno? {
        await wait(deadline: nil, cancellable: false) ?? nil
    }

    /// Waits at most until `deadline` (or until the task is cancelled) for the bio to end:
    /// `.some(error)` once it has, `nil` if it has not.
    public func wait(deadline: ContinuousClock.Instant?) async -> Errno?? {
        await wait(deadline: deadline, cancellable: true)
    }

    private func wait(deadline: ContinuousClock.Instant?, cancellable: Bool) async -> Errno?? {
        // Most bios have ended by the time anyone waits (a file backend completes inside
        // submit): answer without suspending.
        if let ended { return ended }
        return await WaiterList<Errno?>.wait(
            deadline: deadline, cancellable: cancellable,
            register: { continuation in
                observable.withLock { state -> WaiterList<Errno?>.Registration in
                    if let ended = observe() { return .ready(ended) }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.observable.withLock { $0.waiters.remove(id) } })
    }

    /// Waits until the bio has ended or is durably queued (target queue, pushback or deferred,
    /// recorded by the journal), at most until `deadline` or until the task is cancelled.
    /// Returns whether it has. Used for `Prefer: respond-async` and for closing NBD
    /// connections.
    @discardableResult
    public func waitUntilEndedOrDurablyQueued(deadline: ContinuousClock.Instant? = nil) async -> Bool {
        if isSettled { return true }
        while true {
            let woken: Void? = await WaiterList<Void>.wait(
                deadline: deadline,
                register: { continuation in
                    observable.withLock { state -> WaiterList<Void>.Registration in
                        if observe() != nil || (state.durable && state.state.isQueued) { return .ready(()) }
                        return state.stateWaiters.add(continuation)
                    }
                },
                take: { [self] id in self.observable.withLock { $0.stateWaiters.remove(id) } })
            if woken == nil { return false }
            if isSettled { return true }
        }
    }

    /// Ended, or durably queued.
    private var isSettled: Bool {
        if endWord.load(ordering: .acquiring) != 0 { return true }
        return observable.withLock { $0.durable && $0.state.isQueued }
    }

    /// Sets the observable state (not final states: see ``endIO(_:endedAt:)``).
    func setState(_ newState: BioState) {
        let waiters = observable.withLock { state -> [WaiterList<Void>.Continuation] in
            guard endWord.load(ordering: .acquiring) == 0 else { return [] }
            state.state = newState
            state.durable = false
            return state.stateWaiters.takeAll()
        }
        waiters.resumeAll(returning: ())
    }

    /// Marks the current queue position as durable (called by the journal's acknowledgement).
    func markDurable(for expected: BioState) {
        let waiters = observable.withLock { state -> [WaiterList<Void>.Continuation] in
            guard state.state == expected, endWord.load(ordering: .acquiring) == 0 else { return [] }
            state.durable = true
            return state.stateWaiters.takeAll()
        }
        waiters.resumeAll(returning: ())
    }

    /// Ends the bio: records the result, wakes waiters and calls the end-I/O receivers (a
    /// later one first, then the one given at creation). Only the first call has an effect.
    /// `endedAt` is the ``MonotonicClock`` reading the caller also counted the bio's latency
    /// with. A bio nobody waits for ends with one compare-exchange and no lock (see
    /// ``endWord``).
    func endIO(_ error: Errno?, endedAt: Int64 = MonotonicClock.now()) {
        let word = BioEnd.word(error: error, latency: endedAt &- startedNanos)
        guard endWord.compareExchange(expected: 0, desired: word, ordering: .sequentiallyConsistent).exchanged
        else { return }
        if observed.load(ordering: .sequentiallyConsistent) {
            let (waiters, stateWaiters, endIO) = observable.withLock {
                state -> ([WaiterList<Errno?>.Continuation], [WaiterList<Void>.Continuation], BlockCompleter?) in
                state.durable = false
                defer { state.endIO = nil }
                return (state.waiters.takeAll(), state.stateWaiters.takeAll(), state.endIO)
            }
            waiters.resumeAll(returning: error)
            stateWaiters.resumeAll(returning: ())
            endIO?.endIO(error)
        }
        completer?.endIO(error)
    }
}

extension Bio {
    /// The mapped device whose target sent this bio's request to this (stacked) device, if any
    /// (``BlockIOCompletion/issuingDevice``); `nil` for a bio from outside the engine.
    var issuingDevice: MappedDevice? { completer?.issuingDevice }

    /// Whether the issuing device is in a noflush suspend: a target that would queue this bio
    /// (no path) hands it back instead, and the core ends it with ``Errno/requeue``.
    var issuerIsNoflushSuspending: Bool { issuingDevice?.isNoflushSuspending ?? false }

    /// Whether ``renew(id:op:sector:sectors:buffer:bufferOffset:endIO:)`` may make this bio a
    /// new one: it has ended, nothing ever registered to learn of its end (its observable part
    /// is as new), it was never journaled or held, and it has no idempotency key. Only
    /// meaningful to a caller that holds the only reference (`isKnownUniquelyReferenced`).
    var isRenewable: Bool {
        endWord.load(ordering: .acquiring) != 0 && !observed.load(ordering: .acquiring)
            && !aggregation.journaled && aggregation.queuedClones == 0 && aggregation.heldBytes == 0
            && idempotencyKey == nil
    }

    /// Lets go of what an ended, renewable bio still refers to (its buffer and receiver), so
    /// that a spare bio holds nothing alive. The caller holds the only reference.
    func dropReferences() {
        request.buffer = nil
        completer = nil
    }

    /// Takes the buffer out of an ended bio the caller holds the only reference to (for its
    /// owner to use again once nothing else refers to it).
    func takeBuffer() -> IOBuffer? {
        defer { request.buffer = nil }
        return request.buffer
    }

    /// Makes this ended bio (``isRenewable``, the caller holding the only reference) a new one,
    /// as if just created with these arguments: a fresh start time, not ended, no clone state.
    /// Dropping the last other reference synchronised with this thread (a reference count
    /// release), and the bio's next submission publishes it again, so no field written here
    /// is seen half-written.
    func renew(
        id: UInt64, op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int,
        endIO: (any BlockIOCompletion)?
    ) {
        request = Request(
            id: id, op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: bufferOffset,
            startedNanos: MonotonicClock.now())
        completer = endIO.map(BlockCompleter.receiver)
        aggregation = Aggregation()
        shard = 0
        endWord.store(0, ordering: .relaxed)
    }

    /// Gives a bio created without one its end-I/O receiver. If the bio has already ended,
    /// `completion` is called at once (on this thread); otherwise exactly once when it ends.
    /// A bio has at most one receiver: setting a second is a programming error.
    public func setEndIO(_ completion: any BlockIOCompletion) {
        let ended: Errno?? = observable.withLock { state in
            if let ended = observe() { return ended }
            precondition(
                completer == nil && state.endIO == nil, "bio \(id) already has an end-I/O receiver")
            state.endIO = .receiver(completion)
            return .none
        }
        if let ended { completion.endIO(ended) }
    }

    /// Ends a bio that was never submitted (its submission was refused) with `error`.
    public func fail(_ error: Errno) { endIO(error) }
}
