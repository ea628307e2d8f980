import Synchronization

/// The engine's one way to wait: continuations waiting for a value, kept inside their owner's
/// lock (a `Mutex` around the owner's state) and resumed outside it, in the order they came.
///
/// ``wait(deadline:cancellable:register:take:)`` registers a continuation and, unless the
/// value arrives first, gives it back with `nil` when the deadline passes or the task is
/// cancelled; nothing is left behind either way (the deadline's timer task ends with the
/// wait). Used for bios, suspend, events, the control lock, listener readiness and test
/// doubles.
public struct WaiterList<Value: Sendable>: Sendable {
    public typealias Continuation = CheckedContinuation<Value?, Never>

    /// What registering a waiter found.
    public enum Registration {
        /// The value is already there: do not wait.
        case ready(Value)
        /// Registered under this id.
        case waiting(UInt64)
    }

    private var nextID: UInt64 = 0
    private var waiters: [(id: UInt64, continuation: Continuation)] = []

    public init() {}

    public var isEmpty: Bool { waiters.isEmpty }
    public var count: Int { waiters.count }

    /// Registers `continuation`; resume it by taking it back with ``remove(_:)``,
    /// ``takeFirst()`` or ``takeAll()``.
    public mutating func add(_ continuation: Continuation) -> Registration {
        nextID += 1
        waiters.append((nextID, continuation))
        return .waiting(nextID)
    }

    /// Takes back the waiter registered under `id`, if it is still waiting.
    public mutating func remove(_ id: UInt64) -> Continuation? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).continuation
    }

    /// Takes back the waiters whose ids satisfy `predicate`, oldest first.
    public mutating func take(where predicate: (UInt64) -> Bool) -> [Continuation] {
        var taken: [Continuation] = []
        waiters.removeAll { waiter in
            guard predicate(waiter.id) else { return false }
            taken.append(waiter.continuation)
            return true
        }
        return taken
    }

    /// Takes back the oldest waiter.
    public mutating func takeFirst() -> Continuation? {
        waiters.isEmpty ? nil : waiters.removeFirst().continuation
    }

    /// Takes back every waiter, oldest first.
    public mutating func takeAll() -> [Continuation] {
        // Most lists are empty when taken (a bio nobody waits for): no copy, no release.
        if waiters.isEmpty { return [] }
        defer { waiters = [] }
        return waiters.map(\.continuation)
    }

    /// Bookkeeping of one wait: its id once registered, whether the task was cancelled
    /// first, and its deadline's timer.
    private struct Pending {
        var id: UInt64?
        var cancelled = false
        var timer: Task<Void, Never>?
    }

    /// Waits for a value. `register` runs under the owner's lock and either answers at once or
    /// adds the continuation; `take` removes a registered continuation (under the owner's
    /// lock). Returns `nil` when `deadline` passes or, if `cancellable`, the task is cancelled
    /// first.
    public static func wait(
        deadline: ContinuousClock.Instant?, cancellable: Bool = true,
        register: (Continuation) -> Registration,
        take: @escaping @Sendable (UInt64) -> Continuation?
    ) async -> Value? {
        let pending = Mutex(Pending())
        let value = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Continuation) in
                switch register(continuation) {
                case .ready(let value):
                    continuation.resume(returning: value)
                case .waiting(let id):
                    let cancelled = pending.withLock { pending -> Bool in
                        pending.id = id
                        return pending.cancelled
                    }
                    if cancelled {
                        take(id)?.resume(returning: nil)
                        return
                    }
                    if let deadline {
                        let timer = Task {
                            try? await Task.sleep(until: deadline, clock: .continuous)
                            take(id)?.resume(returning: nil)
                        }
                        pending.withLock { $0.timer = timer }
                    }
                }
            }
        } onCancel: {
            guard cancellable else { return }
            let id = pending.withLock { pending -> UInt64? in
                pending.cancelled = true
                return pending.id
            }
            if let id { take(id)?.resume(returning: nil) }
        }
        pending.withLock { $0.timer }?.cancel()
        return value
    }

    /// ``wait(deadline:cancellable:register:take:)`` with a timeout from now.
    public static func wait(
        timeout: Duration?, cancellable: Bool = true,
        register: (Continuation) -> Registration,
        take: @escaping @Sendable (UInt64) -> Continuation?
    ) async -> Value? {
        await wait(
            deadline: timeout.map { ContinuousClock.now + $0 }, cancellable: cancellable, register: register,
            take: take)
    }
}

extension Array {
    /// Resumes every waiter taken from a ``WaiterList`` with `value`.
    public func resumeAll<Value: Sendable>(returning value: Value) where Element == CheckedContinuation<Value?, Never> {
        for waiter in self { waiter.resume(returning: value) }
    }
}
