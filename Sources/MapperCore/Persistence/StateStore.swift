import Synchronization

/// The seam through which the engine persists objects and device state (the SQLite store
/// implements it; ``InMemoryStateStore`` keeps a list for tests).
///
/// Threading: ``enqueue(_:done:)`` never blocks and never waits for a commit; it may be
/// called from any thread, including an I/O completion, but never under a device lock.
/// Changes are committed in the order they were enqueued (together with the bio journal's
/// entries, which share the order). `done` runs once the change is durable (`nil`) or has
/// failed, on no particular thread; it must not block.
///
/// Operations that promise durability (create, load, suspend, resume, remove, and path
/// changes made over the API) await it with ``record(_:)`` or ``committed()`` without
/// blocking a thread; a failed write fails the operation with its error (the in-memory change
/// stays, and the error tells the caller it is not durable). Changes nobody waits for (a path
/// failed by an I/O error, an event number) are enqueued and their failures logged by the
/// store.
public protocol StateStore: Sendable {
    /// Queues `change` behind everything queued before it; see the type's contract.
    func enqueue(_ change: StateChange, done: (@Sendable (MapperError?) -> Void)?)

    /// Calls `done` once everything enqueued before this call has been committed or has
    /// failed (failures are reported to their own `done`, or logged).
    func whenCommitted(_ done: @escaping @Sendable () -> Void)
}

extension StateStore {
    /// Persists `change` and returns once it is durable; throws its error (EIO) if it is not.
    public func record(_ change: StateChange) async throws {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<MapperError?, Never>) in
            enqueue(change) { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }

    /// Queues `change` without waiting for it (its failure is logged by the store).
    public func post(_ change: StateChange) { enqueue(change, done: nil) }

    /// Returns once everything enqueued before the call has been committed (or has failed).
    public func committed() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            whenCommitted { continuation.resume() }
        }
    }
}

/// A ``StateStore`` that records changes in memory (each is "committed" at once).
public final class InMemoryStateStore: StateStore {
    private let log = Mutex<[StateChange]>([])

    public init() {}

    public var changes: [StateChange] { log.withLock { $0 } }

    public func enqueue(_ change: StateChange, done: (@Sendable (MapperError?) -> Void)?) {
        log.withLock { $0.append(change) }
        done?(nil)
    }

    public func whenCommitted(_ done: @escaping @Sendable () -> Void) { done() }
}
