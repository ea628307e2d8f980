import Foundation
import Synchronization

/// One I/O request submitted to a mapped device (dm's `struct bio` plus its `dm_io`).
///
/// The immutable part describes the request. The aggregation state (`remaining`, `outcome`,
/// `queuedClones`) belongs to the device the bio was submitted to and is touched only under
/// that device's lock. The observable part (``state``, ``error``, completion) has its own lock.
public final class Bio: Sendable {
    /// Unique within the engine.
    public let id: UInt64
    public let op: BioOp
    /// First sector on the device.
    public let sector: UInt64
    /// Length in sectors (0 for flush).
    public let sectors: UInt64
    /// Write payload or read destination; `nil` for flush and discard.
    public let buffer: IOBuffer?
    /// Where this bio's bytes start inside ``buffer``.
    public let bufferOffset: Int
    /// The client's idempotency key, if any.
    public let idempotencyKey: String?
    private let submittedNanos: Int64
    /// When the bio was created.
    public var submittedAt: Date { WallClock.date(submittedNanos) }

    struct Aggregation {
        /// Clones not yet ended (dm's `io_count`).
        var remaining = 0
        /// dm's `io->error`: ok, an errno, or requeue.
        var outcome = CloneOutcome.ok
        /// Clones currently held in target queues.
        var queuedClones = 0
        /// Whether the journal holds a record of this bio.
        var journaled = false
    }

    struct Observable {
        var state = BioState.inflight
        var error: Errno?
        var completedNanos: Int64 = 0
        var durable = false
        var waiters: [CheckedContinuation<Errno?, Never>] = []
        var stateWaiters: [CheckedContinuation<Void, Never>] = []
        var endIO: (any BlockIOCompletion)?
    }

    /// Guarded by the owning device's lock; see the type's contract.
    nonisolated(unsafe) var aggregation = Aggregation()
    private let observable: Mutex<Observable>

    public init(
        id: UInt64, op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?,
        bufferOffset: Int = 0, idempotencyKey: String? = nil, submittedAt: Date? = nil,
        endIO: (any BlockIOCompletion)? = nil
    ) {
        self.id = id
        self.op = op
        self.sector = sector
        self.sectors = sectors
        self.buffer = buffer
        self.bufferOffset = bufferOffset
        self.idempotencyKey = idempotencyKey
        self.submittedNanos = submittedAt.map(WallClock.nanos) ?? WallClock.nowNanos()
        self.observable = Mutex(Observable(endIO: endIO))
    }

    /// Length in bytes.
    public var byteCount: Int { Int(sectors) << 9 }

    /// The current state.
    public var state: BioState { observable.withLock { $0.state } }
    /// The error a failed bio ended with.
    public var error: Errno? { observable.withLock { $0.error } }
    /// When the bio ended (`nil` while it has not).
    public var completedAt: Date? {
        let nanos = observable.withLock { $0.completedNanos }
        return nanos == 0 ? nil : WallClock.date(nanos)
    }
    /// Whether the journal has durably recorded the bio's current queue position.
    public var isDurablyQueued: Bool { observable.withLock { $0.durable && $0.state.isQueued } }

    /// The outcome if the bio has ended: `.some(error)`; `nil` while it has not.
    public var ended: Errno?? {
        observable.withLock { $0.state.isFinal ? .some($0.error) : .none }
    }

    /// Waits for the bio to end and returns its error (`nil` on success). Returns at once if it
    /// has already ended. Any number of callers may wait.
    public func wait() async -> Errno? {
        if let done = observable.withLock({ $0.state.isFinal ? Optional($0.error) : nil }) {
            return done
        }
        return await withCheckedContinuation { continuation in
            let ended: Errno?? = observable.withLock { state in
                if state.state.isFinal { return .some(state.error) }
                state.waiters.append(continuation)
                return .none
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }

    /// Waits until the bio has ended or is durably queued (target queue, pushback or deferred,
    /// recorded by the journal). Used for `Prefer: respond-async`.
    public func waitUntilEndedOrDurablyQueued() async {
        while true {
            let ready = observable.withLock { $0.state.isFinal || ($0.durable && $0.state.isQueued) }
            if ready { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = observable.withLock { state in
                    if state.state.isFinal || (state.durable && state.state.isQueued) { return true }
                    state.stateWaiters.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    /// Sets the observable state (not final states: see ``finish(_:)``).
    func setState(_ newState: BioState) {
        let waiters = observable.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.state.isFinal else { return [] }
            state.state = newState
            state.durable = false
            let waiters = state.stateWaiters
            state.stateWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Marks the current queue position as durable (called by the journal's acknowledgement).
    func markDurable(for expected: BioState) {
        let waiters = observable.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.state == expected else { return [] }
            state.durable = true
            let waiters = state.stateWaiters
            state.stateWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Ends the bio: records the result, wakes waiters and calls the end-I/O receiver.
    /// Only the first call has an effect.
    func finish(_ error: Errno?) {
        let (waiters, stateWaiters, endIO) = observable.withLock {
            state -> (
                [CheckedContinuation<Errno?, Never>], [CheckedContinuation<Void, Never>], (any BlockIOCompletion)?
            ) in
            guard !state.state.isFinal else { return ([], [], nil) }
            state.state = error == nil ? .completed : .failed
            state.error = error
            state.completedNanos = WallClock.nowNanos()
            defer {
                state.waiters = []
                state.stateWaiters = []
                state.endIO = nil
            }
            return (state.waiters, state.stateWaiters, state.endIO)
        }
        for waiter in waiters { waiter.resume(returning: error) }
        for waiter in stateWaiters { waiter.resume() }
        endIO?.blockIOCompleted(error)
    }
}

extension Bio {
    /// Ends a bio that was never submitted (its submission was refused) with `error`.
    public func fail(_ error: Errno) { finish(error) }
}
