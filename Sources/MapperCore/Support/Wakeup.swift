import Synchronization

/// A level-triggered wake-up for one background loop: ``wake()`` from anywhere; ``wait(until:)``
/// returns at once when woken since the last wait, else at the first wake-up, the deadline or
/// cancellation, whichever comes first.
public final class Wakeup: Sendable {
    private struct State {
        var woken = false
        var waiters = WaiterList<Void>()
    }

    private let state = Mutex(State())

    public init() {}

    public func wake() {
        let waiters = state.withLock { state -> [WaiterList<Void>.Continuation] in
            state.woken = true
            return state.waiters.takeAll()
        }
        waiters.resumeAll(returning: ())
    }

    /// Waits as described above and clears the wake-up.
    public func wait(until deadline: ContinuousClock.Instant?) async {
        _ = await WaiterList<Void>.wait(
            deadline: deadline,
            register: { continuation in
                state.withLock { state -> WaiterList<Void>.Registration in
                    if state.woken { return .ready(()) }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.waiters.remove(id) } })
        state.withLock { $0.woken = false }
    }
}
