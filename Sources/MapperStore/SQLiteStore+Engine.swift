import Logging
import MapperCore

extension SQLiteStore {
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

    /// Commits made so far by the writer (each holds every item queued while the previous
    /// one was committing).
    public var commitCount: Int { writer.commitCount }
}
