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
final class MirrorLegWriter: Sendable {
    private let queue: DispatchQueue
    private let state = Mutex(LegWritePlacement())
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
        queue.async { self.timed(request, end: end, to: device) }
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
