import MapperCore
import Synchronization

/// A ``StateStore`` whose commits the test can hold back: after ``hold()`` changes are
/// recorded at once but acknowledged only when the test calls ``release()``. Shows that nothing waits for a
/// commit that it must not wait for (an I/O completion), and that operations promising
/// durability do wait.
public final class HeldStateStore: StateStore {
    private struct State {
        var changes: [StateChange] = []
        var unacknowledged: [@Sendable () -> Void] = []
        var held = false
        var arrivals = WaiterList<Void>()
    }

    private let state = Mutex(State())

    public init() {}

    /// Every change enqueued so far, in order.
    public var changes: [StateChange] { state.withLock { $0.changes } }
    /// Acknowledgements held back.
    public var pending: Int { state.withLock { $0.unacknowledged.count } }

    public func enqueue(_ change: StateChange, done: (@Sendable (MapperError?) -> Void)?) {
        let (now, waiters) = state.withLock { state -> (Bool, [WaiterList<Void>.Continuation]) in
            state.changes.append(change)
            if state.held { state.unacknowledged.append { done?(nil) } }
            return (!state.held, state.arrivals.takeAll())
        }
        waiters.resumeAll(returning: ())
        if now { done?(nil) }
    }

    public func whenCommitted(_ done: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.held { state.unacknowledged.append(done) }
            return !state.held
        }
        if now { done() }
    }

    /// From now on, acknowledges nothing until ``release()``.
    public func hold() { state.withLock { $0.held = true } }

    /// Acknowledges everything held back, and everything after it at once.
    public func release() {
        let held = state.withLock { state -> [@Sendable () -> Void] in
            state.held = false
            defer { state.unacknowledged = [] }
            return state.unacknowledged
        }
        for acknowledge in held { acknowledge() }
    }

    /// Waits until at least `count` acknowledgements are held back.
    public func waitForPending(_ count: Int) async {
        while true {
            let woken: Void? = await WaiterList<Void>.wait(
                deadline: nil,
                register: { continuation in
                    state.withLock { state -> WaiterList<Void>.Registration in
                        if state.unacknowledged.count >= count { return .ready(()) }
                        return state.arrivals.add(continuation)
                    }
                },
                take: { [self] id in self.state.withLock { $0.arrivals.remove(id) } })
            if woken == nil || pending >= count { return }
        }
    }
}
