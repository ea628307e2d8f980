import Synchronization

/// Runs `operation`, giving up at `deadline`: returns its value, or `nil` when the deadline
/// passed first. Errors the operation throws before the deadline are rethrown; cancelling
/// the caller throws `CancellationError`.
///
/// It returns at the deadline even when the operation does not respond to cancellation
/// (waiting on a NIO future, say): the operation keeps running in its own task, is told by
/// cancellation that nobody waits any more, and whatever it still returns is dropped. An
/// operation that holds a resource must release it when it ends cancelled; its own timeouts
/// bound how long it lingers.
public func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let work = Task { try await operation() }
    let race = FirstOutcome<Result<T, any Error>?>()
    let timer = Task {
        try? await Task.sleep(until: deadline, clock: .continuous)
        race.resolve(nil)
    }
    Task { race.resolve(await work.result) }
    let outcome = await withTaskCancellationHandler {
        await race.value()
    } onCancel: {
        race.resolve(.failure(CancellationError()))
    }
    timer.cancel()
    guard let outcome else {
        work.cancel()
        return nil
    }
    if case .failure = outcome { work.cancel() }
    return try outcome.get()
}

/// The first of several outcomes, handed to one waiter.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var resolved = false
        var waiter: CheckedContinuation<Value, Never>?
    }

    private let state = Mutex(State())

    func resolve(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            guard !state.resolved else { return nil }
            state.resolved = true
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value?? in
                if state.resolved { return .some(state.value) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready!) }
        }
    }
}
