import Synchronization

/// The seam through which the engine persists objects and device state (the SQLite store
/// implements it; ``InMemoryStateStore`` keeps a list for tests).
///
/// The engine calls ``record(_:)`` after each change is made in memory, from the operation's
/// own task, never under a device lock; a throwing store fails the operation with its error
/// (the in-memory change stays, and the error tells the caller it is not durable).
public protocol StateStore: Sendable {
    func record(_ change: StateChange) throws
}

/// A ``StateStore`` that records changes in memory.
public final class InMemoryStateStore: StateStore {
    private let log = Mutex<[StateChange]>([])

    public init() {}

    public var changes: [StateChange] { log.withLock { $0 } }

    public func record(_ change: StateChange) throws {
        log.withLock { $0.append(change) }
    }
}
