import Synchronization

/// Fans one flush clone out to several devices and ends the clone when all answered (the
/// last error wins).
final class FlushGroup: BlockIOCompletion {
    private let clone: Clone
    private let state: Mutex<(remaining: Int, error: Errno?)>

    init(clone: Clone, count: Int) {
        self.clone = clone
        self.state = Mutex((count, nil))
    }

    func endIO(_ error: Errno?) {
        let done = state.withLock { state -> (Bool, Errno?) in
            if let error { state.error = error }
            state.remaining -= 1
            return (state.remaining == 0, state.error)
        }
        if done.0 { clone.end(done.1.map(CloneOutcome.error) ?? .ok) }
    }
}
