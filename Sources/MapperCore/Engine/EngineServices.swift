import Logging
import Synchronization

/// What every device and target of one engine shares: target types, the event log, the
/// failure points, the persistence seams, the queue limits and held-I/O count, the bio id
/// counter and the logger.
public final class EngineServices: Sendable {
    public let targetTypes: TargetRegistry
    public let events: EventLog
    public let failurePoints: FailurePoints
    public let journal: any BioJournal
    public let store: any StateStore
    public let logger: Logger
    /// Held bytes over all devices, and the queue limits.
    public let heldIO: HeldIO
    /// Makes connections to remote backends (the NBD client); `nil`: remote backends are
    /// refused with ENOTSUP.
    public let connector: (any RemoteConnector)?
    /// The checker configuration a path gets when it is checked by default (NBD paths) and
    /// none is given; its interval also times `no_path_retry` for paths without a checker.
    public let defaultChecker: CheckerConfig
    private let lastBioID: Atomic<UInt64>
    /// The engine's thin pools, by metadata device.
    public let thinPools = ThinPoolRegistry()
    /// How long a thin pool out of data space holds writes that need a block before failing
    /// them with ENOSPC (dm-thin's `no_space_timeout`); zero: for ever.
    public let thinNoSpaceTimeout: Duration
    /// The longest time between a change to a thin pool's metadata and its commit (dm-thin's
    /// `COMMIT_PERIOD`, one second).
    public let thinCommitPeriod: Duration

    public init(
        targetTypes: TargetRegistry = TargetRegistry(), events: EventLog = EventLog(),
        failurePoints: FailurePoints = FailurePoints(),
        journal: any BioJournal = InMemoryBioJournal(keepsEntries: false),
        store: any StateStore = InMemoryStateStore(), logger: Logger = Logger(label: "mapperd.core"),
        queueLimits: QueueLimits = .defaults, lastBioID: UInt64 = 0,
        connector: (any RemoteConnector)? = nil, defaultChecker: CheckerConfig = .defaults,
        thinNoSpaceTimeout: Duration = .seconds(60), thinCommitPeriod: Duration = .seconds(1)
    ) {
        self.thinNoSpaceTimeout = thinNoSpaceTimeout
        self.thinCommitPeriod = thinCommitPeriod
        self.heldIO = HeldIO(limits: queueLimits)
        self.connector = connector
        self.defaultChecker = defaultChecker
        self.targetTypes = targetTypes
        self.events = events
        self.failurePoints = failurePoints
        self.journal = journal
        self.store = store
        self.logger = logger
        self.lastBioID = Atomic(lastBioID)
    }

    /// A new, engine-unique bio id.
    public func nextBioID() -> UInt64 {
        lastBioID.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// `count` consecutive engine-unique bio ids (for a client that makes many bios: one
    /// write of the shared counter per block instead of per bio).
    func reserveBioIDBlock(count: UInt64) -> ClosedRange<UInt64> {
        let last = lastBioID.wrappingAdd(count, ordering: .relaxed).newValue
        return (last - count + 1)...last
    }

    /// Makes sure later ids are greater than `id` (start-up after recovering journaled bios).
    public func reserveBioIDs(through id: UInt64) {
        var current = lastBioID.load(ordering: .relaxed)
        while current < id {
            let (exchanged, original) = lastBioID.compareExchange(
                expected: current, desired: id, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
