/// Where a bio is, as clients observe it.
public enum BioState: String, Sendable, CaseIterable {
    /// Mapped and travelling through targets and backends.
    case inflight
    /// At least one clone is held in a target's queue (for example multipath with no path).
    case queued
    /// Handed back to the core during a noflush suspend; re-issued at resume.
    case pushback
    /// Waiting in the device's deferred list because the device blocks I/O.
    case deferred
    /// Completed successfully.
    case completed
    /// Completed with an error.
    case failed

    /// Whether the bio sits in a queue that the journal makes durable.
    public var isQueued: Bool { self == .queued || self == .pushback || self == .deferred }
    /// Whether the bio has ended.
    public var isFinal: Bool { self == .completed || self == .failed }
}
