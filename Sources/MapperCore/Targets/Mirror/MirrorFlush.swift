import Synchronization

/// A flush sent to every leg of a mirror: ends its clone once all answered (with the last
/// error, or a requeue if a stacked leg handed it back) and records an `F` on each leg that
/// failed it.
final class MirrorFlush: MirrorLegReceiver {
    private let target: MirrorTarget
    private let clone: Clone
    private let state: Mutex<(remaining: Int, outcome: CloneOutcome)>

    init(target: MirrorTarget, clone: Clone, count: Int) {
        self.target = target
        self.clone = clone
        state = Mutex((count, .ok))
    }

    /// Leg `leg`'s answer.
    func legEnded(_ leg: Int, _ error: Errno?) {
        if error != nil && error != .requeue { target.recordFailure(.flush, on: leg) }
        let done = state.withLock { state -> CloneOutcome? in
            state.outcome = state.outcome.merging(CloneOutcome(error), noflushSuspending: true)
            state.remaining -= 1
            return state.remaining == 0 ? state.outcome : nil
        }
        if let done { clone.end(done) }
    }

    var issuingDevice: MappedDevice? { target.context.device }
}
