import Dispatch
import Logging
import Synchronization

/// Issues one mirror leg's writes, inline on the mapping thread or on a serial dispatch queue
/// of the leg's own (a thread of its own while busy, apart from NIO's and Swift concurrency's)
/// in the order they were handed over, as ``LegWritePlacement/plan(_:)`` decides for each
/// write. It times each `submit` and reports it to the leg's ``LegWritePlacement``: from the
/// call to the leg's end when the backend answered inline (``MirrorLegEnd/endedAt``), so that
/// what the last leg's end sets off (the write's end, an NBD reply) is not counted as the
/// leg's cost; to the call's return otherwise.
///
/// The mirror hands the queued legs their writes first, then writes the inline ones: a queued
/// leg's `pwrite` runs while the mapping thread writes the others (or maps the next request).
///
/// Queued writes wait in a list of the writer's own, and one run on the queue takes them in
/// order until the list is empty: a write handed over while that run is under way costs the
/// mapping thread an append under a lock, not a block, a closure and a thread's wake-up each.
final class MirrorLegWriter: Sendable {
    private let queue: DispatchQueue
    private let state = Mutex(LegWritePlacement())
    /// Writes handed over and not taken yet, and whether a run on ``queue`` is under way (it
    /// takes them; set by the hand-over that found none, cleared by the run that found the
    /// list empty).
    private let waiting = Mutex<(writes: [QueuedWrite], running: Bool)>(([], false))

    /// Runs started on ``queue`` so far (tests: writes handed over during a run join it).
    let runsStarted = Atomic<Int>(0)

    private struct QueuedWrite {
        let request: BlockRequest
        let end: MirrorLegEnd
        let device: any BlockNode
    }
    private let name: String
    private let logger: Logger

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
        queue = DispatchQueue(label: "mapperd.mirror-leg.\(name)")
    }

    /// Where the leg's writes go, and their average submit time.
    var placement: LegWritePlacement { state.withLock { $0 } }

    /// Submits `request` (whose completion is `end`) to `device` on the leg's queue, timed
    /// there.
    func queue(_ request: BlockRequest, end: MirrorLegEnd, to device: any BlockNode) {
        let start = waiting.withLock { waiting in
            waiting.writes.append(QueuedWrite(request: request, end: end, device: device))
            guard !waiting.running else { return false }
            waiting.running = true
            return true
        }
        if start { queue.async { self.run() } }
    }

    /// Submits the writes handed over, in order, until none is left.
    private func run() {
        runsStarted.add(1, ordering: .relaxed)
        while true {
            let writes = waiting.withLock { waiting in
                if waiting.writes.isEmpty { waiting.running = false }
                var taken: [QueuedWrite] = []
                swap(&taken, &waiting.writes)
                return taken
            }
            guard !writes.isEmpty else { return }
            for write in writes { timed(write.request, end: write.end, to: write.device) }
        }
    }

    /// Submits `request` (whose completion is `end`) to `device` on this thread, timed.
    func writeInline(_ request: BlockRequest, end: MirrorLegEnd, to device: any BlockNode) {
        timed(request, end: end, to: device)
    }

    private func timed(_ request: BlockRequest, end: MirrorLegEnd, to device: any BlockNode) {
        let start = MonotonicClock.now()
        device.submit(request)
        let ended = end.endedAt.load(ordering: .relaxed)
        let took = (ended != 0 ? ended : MonotonicClock.now()) &- start
        guard let moved = state.withLock({ $0.observe(nanos: took) }) else { return }
        logger.debug(
            "mirror leg writes \(moved == .queued ? "queued" : "inline")",
            metadata: ["leg": "\(name)", "averageMicros": "\(placement.averageNanos / 1000)"])
    }
}
