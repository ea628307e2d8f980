/// Runs `operation`, giving up at `deadline`: returns its value, or `nil` when the deadline
/// passed first. Then the operation's task is cancelled and whatever it still returns is
/// dropped (an operation holding a resource must release it when it sees cancellation).
/// Errors the operation throws before the deadline are rethrown.
public func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
