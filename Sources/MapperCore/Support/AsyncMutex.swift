import Synchronization

/// A FIFO mutual-exclusion lock for async code: serialises a device's control operations
/// (suspend, resume, remove; dm's `suspend_lock`) without blocking a thread while waiting.
/// Waiting for it is not cancellable (an operation, once asked for, runs).
public final class AsyncMutex: Sendable {
    private struct State {
        var locked = false
        var waiters = WaiterList<Void>()
    }

    private let state = Mutex(State())

    public init() {}

    public func lock() async {
        _ = await WaiterList<Void>.wait(
            deadline: nil, cancellable: false,
            register: { continuation in
                state.withLock { state -> WaiterList<Void>.Registration in
                    if !state.locked {
                        state.locked = true
                        return .ready(())
                    }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.waiters.remove(id) } })
    }

    /// Hands the lock to the oldest waiter, or releases it.
    public func unlock() {
        let next = state.withLock { state -> WaiterList<Void>.Continuation? in
            guard let next = state.waiters.takeFirst() else {
                state.locked = false
                return nil
            }
            return next
        }
        next?.resume(returning: ())
    }

    public func withLock<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await lock()
        defer { unlock() }
        return try await body()
    }
}
