/// The queues a bio can sit in, as the journal records them.
public enum BioLocation: Sendable, Hashable, CustomStringConvertible {
    /// Held by the target at this index of the live table (for example multipath's queue).
    case targetQueue(Int)
    /// Handed back to the core during a noflush suspend.
    case pushback
    /// Waiting for the device to stop blocking I/O.
    case deferred

    public var description: String {
        switch self {
        case .targetQueue(let index): return "target-queue[\(index)]"
        case .pushback: return "pushback"
        case .deferred: return "deferred"
        }
    }

    /// The state of a bio in this location, as journals record it.
    public var bioState: BioState {
        switch self {
        case .targetQueue: .queued
        case .pushback: .pushback
        case .deferred: .deferred
        }
    }
}
