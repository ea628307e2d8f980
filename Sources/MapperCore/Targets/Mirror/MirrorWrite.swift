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

/// Resync of one region: read it from the default mirror, write it to the others, then tell
/// the target.
final class MirrorCopy: MirrorLegReceiver {
    private let target: MirrorTarget
    private let region: Int
    private let sector: UInt64
    private let sectors: UInt64
    private let buffer: IOBuffer
    /// The default mirror it reads, and the live mirrors it writes.
    private let source: Int
    private let destinations: [Int]
    private let state: Mutex<(reading: Bool, remaining: Int, failed: Bool)>
    /// When the copy started (monotonic nanoseconds).
    private let started = MonotonicClock.now()

    init(target: MirrorTarget, region: Int) {
        self.target = target
        self.region = region
        sector = UInt64(region) * target.regionSize
        sectors = min(target.regionSize, target.context.length - sector)
        buffer = IOBuffer.uninitialized(count: Int(sectors) << 9)
        let live = target.liveLegs
        source = live.first ?? 0
        destinations = Array(live.dropFirst())
        state = Mutex((true, 1, false))
    }

    func start() {
        guard !destinations.isEmpty else {
            // Every other leg is dead: the region cannot be brought in sync.
            target.copyEnded(region: region, success: false, took: 0)
            return
        }
        let source = target.legs[source]
        source.device.submit(
            BlockRequest(
                op: .read, sector: source.offset + sector, sectors: sectors, buffer: buffer, bufferOffset: 0,
                completion: MirrorLegEnd(self, leg: self.source)))
    }

    /// Leg `leg`'s answer (the source's read, or a destination's write): a failure is a sync
    /// error on that leg (dm's `S`).
    func legEnded(_ leg: Int, _ error: Errno?) {
        // A stacked leg that handed the copy back (the device is in a noflush suspend) failed
        // nothing: the region stays out of sync for the next resync.
        if error != nil && error != .requeue { target.recordFailure(.sync, on: leg) }
        enum Next { case write, wait, end(Bool) }
        let next = state.withLock { state -> Next in
            if error != nil { state.failed = true }
            if state.reading {
                state.reading = false
                if state.failed { return .end(false) }
                state.remaining = destinations.count
                return .write
            }
            state.remaining -= 1
            return state.remaining == 0 ? .end(!state.failed) : .wait
        }
        switch next {
        case .write:
            for index in destinations {
                let leg = target.legs[index]
                leg.device.submit(
                    BlockRequest(
                        op: .write, sector: leg.offset + sector, sectors: sectors, buffer: buffer, bufferOffset: 0,
                        completion: MirrorLegEnd(self, leg: index)))
            }
        case .wait:
            break
        case .end(let success):
            target.copyEnded(region: region, success: success, took: MonotonicClock.now() - started)
        }
    }

    var issuingDevice: MappedDevice? { target.context.device }
}
