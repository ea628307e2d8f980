import Synchronization

/// One write (or discard) sent to several mirrors: ends its clone through the target once
/// every mirror answered, with the legs that failed.
final class MirrorWrite: MirrorLegReceiver {
    private let target: MirrorTarget
    private let clone: Clone
    private let issued: Int
    private let state: Mutex<(remaining: Int, failedLegs: [Int], error: Errno?, handedBack: Bool)>

    init(target: MirrorTarget, clone: Clone, count: Int) {
        self.target = target
        self.clone = clone
        issued = count
        state = Mutex((count, [], nil, false))
    }

    func legEnded(_ leg: Int, _ error: Errno?) {
        let done = state.withLock { state -> (failedLegs: [Int], error: Errno?, handedBack: Bool)? in
            if error == .requeue {
                state.handedBack = true
            } else if let error {
                state.failedLegs.append(leg)
                state.error = error
            }
            state.remaining -= 1
            return state.remaining == 0 ? (state.failedLegs, state.error, state.handedBack) : nil
        }
        guard let done else { return }
        if done.handedBack {
            target.writeHandedBack(clone, failedLegs: done.failedLegs)
        } else {
            target.writeEnded(clone, failedLegs: done.failedLegs, issued: issued, error: done.error)
        }
    }

    var issuingDevice: MappedDevice? { target.context.device }
}

/// A read retried on the live mirrors after the default one, in order, until one answers.
final class MirrorRead: BlockIOCompletion {
    private let target: MirrorTarget
    private let clone: Clone
    /// The legs still to try, in order, and the one being tried.
    private let remaining: Mutex<ArraySlice<Int>>
    private let current = Mutex(0)

    init(target: MirrorTarget, clone: Clone, legs: [Int]) {
        self.target = target
        self.clone = clone
        remaining = Mutex(legs[...])
    }

    /// Tries the next leg; `false` when none is left.
    func tryNext() -> Bool {
        guard let index = remaining.withLock({ $0.popFirst() }) else { return false }
        current.withLock { $0 = index }
        let leg = target.legs[index]
        leg.device.submit(
            BlockRequest(
                op: .read, sector: leg.offset + clone.targetOffset, sectors: clone.sectors,
                buffer: clone.bio.buffer, bufferOffset: clone.bufferOffset, completion: self))
        return true
    }

    func endIO(_ error: Errno?) {
        guard let error, error != .requeue else {
            clone.end(CloneOutcome(error))
            return
        }
        target.recordFailure(.read, on: current.withLock { $0 })
        if !tryNext() { clone.end(.error(error)) }
    }

    var issuingDevice: MappedDevice? { target.context.device }
}
