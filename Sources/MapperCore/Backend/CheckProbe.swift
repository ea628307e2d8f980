import Synchronization

/// The completion of a checker's read: remembers the first outcome and hands it to one
/// waiter, which gives up at its deadline. A read that ends after the waiter gave up (a
/// stalled path released later) is discarded.
final class CheckProbe: BlockIOCompletion {
    private struct State {
        var outcome: Errno??
        var waiters = WaiterList<Errno?>()
    }

    private let state = Mutex(State())

    func endIO(_ error: Errno?) {
        let waiters = state.withLock { state -> [WaiterList<Errno?>.Continuation] in
            guard state.outcome == nil else { return [] }
            state.outcome = .some(error)
            return state.waiters.takeAll()
        }
        waiters.resumeAll(returning: error)
    }

    /// The read's error (`nil`: it succeeded), or ETIMEDOUT once `deadline` passes.
    func wait(deadline: ContinuousClock.Instant) async -> Errno? {
        let outcome = await WaiterList<Errno?>.wait(
            deadline: deadline,
            register: { continuation in
                state.withLock { state -> WaiterList<Errno?>.Registration in
                    if let outcome = state.outcome { return .ready(outcome) }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.waiters.remove(id) } })
        guard let outcome else { return .ETIMEDOUT }
        return outcome
    }
}
