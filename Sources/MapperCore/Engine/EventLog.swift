import Foundation
import Synchronization

/// The engine-wide event log: a bounded ring of ``EngineEvent``s with long-poll waiters.
///
/// Keeps the newest `capacity` events; `seq` keeps counting across evictions.
public final class EventLog: Sendable {
    private struct State {
        var events: [EngineEvent] = []
        var lastSeq: UInt64 = 0
        var waiters = WaiterList<UInt64>()
    }

    private let state: Mutex<State>
    private let capacity: Int
    private let sink = Mutex<(@Sendable (EngineEvent) -> Void)?>(nil)

    public init(capacity: Int = 10_000, startingAfter seq: UInt64 = 0) {
        self.capacity = max(1, capacity)
        var initial = State()
        initial.lastSeq = seq
        self.state = Mutex(initial)
    }

    /// Appends an event and wakes long-pollers. Returns it.
    @discardableResult
    public func append(kind: EngineEvent.Kind, device: String? = nil, path: String? = nil, detail: String = "") -> EngineEvent {
        let (event, waiters) = state.withLock { state in
            state.lastSeq += 1
            let event = EngineEvent(
                seq: state.lastSeq, at: Date(), kind: kind, device: device, path: path, detail: detail)
            state.events.append(event)
            if state.events.count > capacity + capacity / 4 {
                state.events.removeFirst(state.events.count - capacity)
            }
            return (event, state.waiters.takeAll())
        }
        for waiter in waiters { waiter.resume(returning: event.seq) }
        sink.withLock { $0 }?(event)
        return event
    }

    /// Sets a receiver called with every appended event (the store persists them).
    public func setSink(_ receiver: @escaping @Sendable (EngineEvent) -> Void) {
        sink.withLock { $0 = receiver }
    }

    /// Puts persisted events back (start-up), oldest first; later appends continue after the
    /// newest of them.
    public func preload(_ events: [EngineEvent]) {
        state.withLock { state in
            state.events = Array(events.suffix(capacity))
            state.lastSeq = max(state.lastSeq, events.last?.seq ?? 0)
        }
    }

    /// The newest sequence number (0 when empty).
    public var lastSeq: UInt64 { state.withLock { $0.lastSeq } }

    /// Events with `seq > after`, oldest first, at most `limit`.
    public func events(after: UInt64, limit: Int = 1000) -> [EngineEvent] {
        state.withLock { state in
            Array(state.events.lazy.filter { $0.seq > after }.prefix(limit))
        }
    }

    /// Waits until an event newer than `after` exists or `timeout` passes, then returns the
    /// events after `after` (possibly none) and the newest seq.
    public func wait(after: UInt64, timeout: Duration) async -> (events: [EngineEvent], last: UInt64) {
        _ = await WaiterList<UInt64>.wait(
            timeout: timeout,
            register: { continuation in
                state.withLock { state -> WaiterList<UInt64>.Registration in
                    if state.lastSeq > after { return .ready(state.lastSeq) }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.waiters.remove(id) } })
        return (events(after: after), lastSeq)
    }

    /// Waits for the first event of `kind` with `seq > after` (however long it takes, until
    /// the task is cancelled) and returns it; `nil` if cancelled first.
    public func first(_ kind: EngineEvent.Kind, after: UInt64) async -> EngineEvent? {
        var seen = after
        while !Task.isCancelled {
            let (events, last) = await wait(after: seen, timeout: .seconds(3600))
            if let event = events.first(where: { $0.kind == kind }) { return event }
            seen = last
        }
        return nil
    }
}
