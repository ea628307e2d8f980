/// A move job's life as a pure state machine (lvm2's `pvmove` steps): every input returns the
/// actions its owner (``JobManager``) carries out in order, and the owner feeds back how each
/// table swap ended. No I/O, no locks, no clocks.
///
/// Phases:
/// - `starting`: the table is being swapped to the mirrored one (segments on `from` become
///   mirrors of `from` and `to`, with a disk log each).
/// - `syncing`: resync copies `from` to `to`; the owner samples progress and reports
///   ``synced()`` once every region is in sync, or ``legFailed(source:)``.
/// - `finishing`: the table is being swapped to the destination one (`to` alone).
/// - `cancelling`: the table is being swapped back to the source one (`from` alone: always
///   consistent, every write went to `from`).
/// - `completed`, `cancelled`, `failed`: the end. A job that failed while its device holds the
///   mirrored table (``onMirror``) may still be cancelled, which returns the device to `from`.
///
/// One swap at a time: an input that needs a swap while one is outstanding is remembered
/// (a cancel during `starting` takes effect once the mirror is in place). Pause and throttle
/// apply to the mirrors' resync while syncing, and are remembered otherwise (a restart sets
/// them again).
public struct MoveJobMachine: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable, CaseIterable {
        case starting, syncing, finishing, cancelling, completed, cancelled, failed

        /// Whether the job has ended.
        public var isFinal: Bool { self == .completed || self == .cancelled || self == .failed }
    }

    /// The three tables of a move (``MovePlan``).
    public enum TableKind: String, Sendable, Codable {
        case mirrored, destination, source
    }

    public enum Action: Sendable, Equatable {
        /// Make sure the log backends and holder devices exist (mirrored only), load this table and resume the
        /// device with noflush (held I/O is pushed back and re-issued through it); then feed
        /// ``loaded(_:error:)``. Done already (the live table is this one): success.
        case load(TableKind)
        /// Set the mirrors' resync rate (bytes per second, 0: unlimited).
        case setRate(UInt64)
        /// Freeze (`true`) or restart (`false`) the mirrors' resync.
        case freeze(Bool)
        /// Remove the log backends and their files, and the holder devices (``MovePlan/Holder``).
        case removeHelpers
        /// Persist the job.
        case persist
        /// Announce the phase (an event).
        case announce(Phase)
    }

    public private(set) var phase: Phase = .starting
    public private(set) var paused = false
    /// The resync rate (bytes per second, 0: unlimited).
    public private(set) var rate: UInt64
    /// Why the job failed (or is failing).
    public private(set) var error: String?
    /// Whether the device's live table is the mirrored one.
    public private(set) var onMirror = false
    /// The swap outstanding, if any.
    public private(set) var swapping: TableKind?
    /// An operator cancelled (during `starting` it takes effect once the mirror is in place).
    public private(set) var cancelRequested = false

    public init(rate: UInt64) {
        self.rate = rate
    }

    // MARK: Inputs

    /// A new job starts.
    public mutating func start() -> [Action] {
        precondition(phase == .starting && swapping == nil, "a job starts once")
        swapping = .mirrored
        return [.persist, .announce(.starting), .load(.mirrored)]
    }

    /// The server restarted with this job persisted: the step it was in is taken up again
    /// (a swap that may or may not have happened is done again; the owner finds it done).
    public mutating func restarted() -> [Action] {
        swapping = nil
        switch phase {
        case .starting:
            swapping = .mirrored
            return [.load(.mirrored)]
        case .syncing:
            return [.setRate(rate)] + (paused ? [.freeze(true)] : [])
        case .finishing:
            swapping = .destination
            return [.load(.destination)]
        case .cancelling:
            swapping = .source
            return [.load(.source)]
        case .completed, .cancelled, .failed:
            return []
        }
    }

    /// The swap to `kind` ended (`error`: why it failed; the device then keeps its table).
    public mutating func loaded(_ kind: TableKind, error failure: String?) -> [Action] {
        precondition(swapping == kind, "a swap ended that was not asked for")
        swapping = nil
        switch (kind, failure) {
        case (.mirrored, nil):
            onMirror = true
            if cancelRequested { return cancelling() }
            phase = .syncing
            return [.persist, .announce(.syncing), .setRate(rate)] + (paused ? [.freeze(true)] : [])
        case (.mirrored, let failure?):
            return fail("could not swap in the mirrored table: \(failure)", removingHelpers: true)
        case (.destination, nil):
            onMirror = false
            phase = .completed
            return [.removeHelpers, .persist, .announce(.completed)]
        case (.destination, let failure?):
            return fail("could not swap in the destination table: \(failure)", removingHelpers: false)
        case (.source, nil):
            onMirror = false
            // Back on `from` because an operator cancelled, or because the destination failed.
            phase = cancelRequested ? .cancelled : .failed
            return [.removeHelpers, .persist, .announce(phase)]
        case (.source, let failure?):
            return fail("could not swap back to the source table: \(failure)", removingHelpers: false)
        }
    }

    /// Every region of every mirror is in sync.
    public mutating func synced() -> [Action] {
        guard phase == .syncing, swapping == nil else { return [] }
        phase = .finishing
        swapping = .destination
        return [.persist, .announce(.finishing), .load(.destination)]
    }

    /// A mirror marked a leg dead (a write failed on it). The destination failing: the job
    /// fails and the device goes back to `from`, which holds every write. The source failing:
    /// the job fails and the device keeps the mirror (the destination is not complete; an
    /// operator decides).
    public mutating func legFailed(source: Bool) -> [Action] {
        guard phase == .syncing, swapping == nil else { return [] }
        if source { return fail("the source failed a write; the device keeps the mirror", removingHelpers: false) }
        error = "the destination failed a write"
        return cancelling()
    }

    /// Pauses resync. EINVAL once the job is past syncing.
    public mutating func pause() throws -> [Action] {
        guard phase == .starting || phase == .syncing else {
            throw MapperError(.EINVAL, "a \(phase.rawValue) job cannot be paused")
        }
        guard !paused else { return [] }
        paused = true
        return (phase == .syncing ? [.freeze(true)] : []) + [.persist]
    }

    /// Resumes resync after ``pause()``. EINVAL once the job is past syncing.
    public mutating func resume() throws -> [Action] {
        guard phase == .starting || phase == .syncing else {
            throw MapperError(.EINVAL, "a \(phase.rawValue) job cannot be resumed")
        }
        guard paused else { return [] }
        paused = false
        return (phase == .syncing ? [.freeze(false)] : []) + [.persist]
    }

    /// Sets the resync rate. EINVAL once the job is past syncing.
    public mutating func throttle(_ bytesPerSecond: UInt64) throws -> [Action] {
        guard phase == .starting || phase == .syncing else {
            throw MapperError(.EINVAL, "a \(phase.rawValue) job cannot be throttled")
        }
        rate = bytesPerSecond
        return (phase == .syncing ? [.setRate(rate)] : []) + [.persist]
    }

    /// Cancels: the device goes back to `from`. EBUSY while switching to the destination;
    /// EINVAL once ended, unless it failed on the mirror.
    public mutating func cancel() throws -> [Action] {
        switch phase {
        case .starting:
            cancelRequested = true
            return [.persist]
        case .syncing:
            cancelRequested = true
            return cancelling()
        case .finishing:
            throw MapperError(.EBUSY, "the job is switching to its destination")
        case .cancelling:
            return []
        case .failed where onMirror && swapping == nil:
            cancelRequested = true
            return cancelling()
        case .completed, .cancelled, .failed:
            throw MapperError(.EINVAL, "the job has \(phase == .failed ? "failed" : "ended") (\(phase.rawValue))")
        }
    }

    // MARK: Private

    private mutating func cancelling() -> [Action] {
        phase = .cancelling
        swapping = .source
        return [.persist, .announce(.cancelling), .load(.source)]
    }

    private mutating func fail(_ why: String, removingHelpers: Bool) -> [Action] {
        phase = .failed
        error = why
        return (removingHelpers ? [.removeHelpers] : []) + [.persist, .announce(.failed)]
    }
}
