import Synchronization

/// A flush sent to every leg of a mirror: ends its clone once all answered (with the last
/// error) and records an `F` on each leg that failed it.
final class MirrorFlush: MirrorLegReceiver {
    private let target: MirrorTarget
    private let clone: Clone
    private let state: Mutex<(remaining: Int, error: Errno?)>

    init(target: MirrorTarget, clone: Clone, count: Int) {
        self.target = target
        self.clone = clone
        state = Mutex((count, nil))
    }

    /// Leg `leg`'s answer.
    func legEnded(_ leg: Int, _ error: Errno?) {
        if error != nil { target.recordFailure(.flush, on: leg) }
        let done = state.withLock { state -> (Bool, Errno?) in
            if let error { state.error = error }
            state.remaining -= 1
            return (state.remaining == 0, state.error)
        }
        if done.0 { clone.end(done.1.map(CloneOutcome.error) ?? .ok) }
    }
}
