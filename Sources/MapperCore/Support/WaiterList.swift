import Synchronization

/// Continuations waiting for a value, keyed so that a timeout or a cancellation can take
/// one back. Kept inside the owner's lock; resumed outside it.
struct WaiterList<Value: Sendable> {
    typealias Continuation = CheckedContinuation<Value?, Never>

    /// What registering a waiter found.
    enum Registration {
        /// The value is already there: do not wait.
        case ready(Value)
        /// Registered under this id.
        case waiting(UInt64)
    }

    private var nextID: UInt64 = 0
    private var waiters: [UInt64: Continuation] = [:]

    init() {}

    var isEmpty: Bool { waiters.isEmpty }

    mutating func add(_ continuation: Continuation) -> Registration {
        nextID += 1
        waiters[nextID] = continuation
        return .waiting(nextID)
    }

    mutating func remove(_ id: UInt64) -> Continuation? {
        waiters.removeValue(forKey: id)
    }

    mutating func takeAll() -> [Continuation] {
        defer { waiters = [:] }
        return Array(waiters.values)
    }

    /// Waits for a value. `register` runs under the owner's lock and either answers at once or
    /// adds the continuation; `take` removes a registered continuation (under the owner's
    /// lock). Returns `nil` when `timeout` passes or the task is cancelled first.
    static func wait(
        timeout: Duration?,
        register: (Continuation) -> Registration,
        take: @escaping @Sendable (UInt64) -> Continuation?
    ) async -> Value? {
        let box = Mutex(WaitBox())
        let value = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Continuation) in
                switch register(continuation) {
                case .ready(let value):
                    continuation.resume(returning: value)
                case .waiting(let id):
                    let cancelled = box.withLock { box -> Bool in
                        box.id = id
                        return box.cancelled
                    }
                    if cancelled {
                        take(id)?.resume(returning: nil)
                        return
                    }
                    if let timeout {
                        let timer = Task {
                            try? await Task.sleep(for: timeout)
                            take(id)?.resume(returning: nil)
                        }
                        box.withLock { $0.timer = timer }
                    }
                }
            }
        } onCancel: {
            let id = box.withLock { box -> UInt64? in
                box.cancelled = true
                return box.id
            }
            if let id { take(id)?.resume(returning: nil) }
        }
        box.withLock { $0.timer }?.cancel()
        return value
    }
}
