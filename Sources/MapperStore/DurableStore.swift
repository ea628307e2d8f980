import Logging
import MapperCore
import ServiceLifecycle

/// What a server keeps its state in: the engine's ``StateStore`` and ``BioJournal``, the event
/// log, the journal's history for `GET /v1/bios`, move jobs, and the snapshot start-up
/// recovery rebuilds the engine from. ``SQLiteStore`` (the default, a file in the data
/// directory) and the PostgreSQL store implement it; nothing else in the server knows which
/// one it has.
///
/// Contract, beyond ``StateStore``'s: journal entries, state changes and events are committed
/// in the order they were enqueued, many per transaction (group commit); ``snapshot(recentEvents:)``
/// reads one consistent state; a service of the server's group, it commits what is queued when
/// the group shuts down.
public protocol DurableStore: AnyObject, StateStore, Service {
    /// The bio journal; it shares the store's writer, so its entries and state changes commit
    /// in order.
    var journal: any BioJournal { get }
    /// Device ownership among hosts sharing the store, when it is shared (nil: this host owns
    /// everything, as with the SQLite file).
    var ownership: (any HostOwnership)? { get }
    /// Commits, items per commit and commit latency.
    var statistics: StoreStatistics { get }
    /// While set, state changes write nothing (start-up recovery replays the engine from the
    /// store and must neither duplicate nor destroy what is there).
    var isRecovering: Bool { get set }

    /// Queues an event for the event log (no wait).
    func recordEvent(_ event: EngineEvent)
    /// Reads the whole state in one transaction.
    func snapshot(recentEvents: Int) async throws -> StoreSnapshot
    /// Reserves this run's bio ids (a new epoch of 2^32 above every id seen); returns the last
    /// id not to use.
    func reserveBioIDs() async throws -> UInt64
    /// Marks bios that cannot be re-issued after a restart as failed with EIO.
    func markLost(_ ids: [UInt64]) async throws
    /// A journaled bio by id.
    func bio(id: UInt64) async throws -> StoredBio?
    /// Journaled bios, newest first, optionally filtered.
    func bios(device: String?, state: BioState?, limit: Int) async throws -> [StoredBio]
    /// The newest bio of the existing device `device` with this idempotency key.
    func bio(device: String, idempotencyKey: String) async throws -> StoredBio?
    /// The persisted move jobs, oldest first.
    func moveJobs() async throws -> [MoveJob]
    /// The number of a new move job (`move-N`), when the store hands them out: a store shared
    /// by several hosts does, so that no two hosts make the same job id. `nil`: the server
    /// numbers its jobs itself (it is the store's only writer).
    func nextMoveJobNumber() async throws -> Int?
    /// The names of the migrations applied to the database, in order.
    func appliedMigrations() async throws -> [String]

    /// Holds back every commit until ``releaseCommits()`` (fault injection: a slow disk).
    func holdCommits()
    /// Commits what was held back.
    func releaseCommits()
    /// Whether commits are held back, and how many items wait for a commit.
    var commitHold: (held: Bool, waiting: Int) { get }
    /// Commits what is queued and stops the writer; later writes fail.
    func close() async
}

extension DurableStore {
    public var ownership: (any HostOwnership)? { nil }

    public func nextMoveJobNumber() async throws -> Int? { nil }

    /// The whole state, with the last 1000 events.
    public func snapshot() async throws -> StoreSnapshot { try await snapshot(recentEvents: 1000) }

    /// The newest 1000 journaled bios, optionally filtered.
    public func bios(device: String? = nil, state: BioState? = nil) async throws -> [StoredBio] {
        try await bios(device: device, state: state, limit: 1000)
    }

    /// Engine services wired to this store: state changes, the bio journal and the event log
    /// all persist here.
    public func engineServices(
        targetTypes: TargetRegistry = TargetRegistry(), failurePoints: FailurePoints = FailurePoints(),
        queueLimits: QueueLimits = .defaults, logger: Logger = Logger(label: "mapperd.core"),
        connector: (any RemoteConnector)? = nil, defaultChecker: CheckerConfig = .defaults,
        thinNoSpaceTimeout: Duration = .seconds(60)
    ) -> EngineServices {
        let events = EventLog()
        events.setSink { [self] event in self.recordEvent(event) }
        return EngineServices(
            targetTypes: targetTypes, events: events, failurePoints: failurePoints, journal: journal, store: self,
            logger: logger, queueLimits: queueLimits, connector: connector, defaultChecker: defaultChecker,
            thinNoSpaceTimeout: thinNoSpaceTimeout)
    }
}
