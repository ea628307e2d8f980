/// Paces a mirror's resync to at most `bytesPerSecond` (0: as fast as the mirrors go). Pure:
/// times are monotonic nanoseconds given by the caller.
///
/// The pace is kept over the whole run since the last change of rate or restart: after `B`
/// bytes the next copy may start no earlier than `start + B / rate`. A copy that took longer
/// than its share earns no credit beyond the run's average, and a pause (suspend, no region
/// left) restarts the run, so resync never bursts to catch up.
struct ResyncPacer: Sendable, Equatable {
    private(set) var bytesPerSecond: UInt64
    private var start: Int64?
    private var bytes: UInt64 = 0

    init(bytesPerSecond: UInt64) { self.bytesPerSecond = bytesPerSecond }

    /// A new rate, from now on.
    mutating func setRate(_ bytesPerSecond: UInt64) {
        self.bytesPerSecond = bytesPerSecond
        restart()
    }

    /// Resync stopped (suspend) or has nothing to do: the next copy starts a new run.
    mutating func restart() {
        start = nil
        bytes = 0
    }

    /// A copy starts at `now` (the first of a run sets the run's start).
    mutating func copyStarts(now: Int64) {
        if start == nil { start = now }
    }

    /// A copy of `count` bytes ended at `now`: when the next one may start (`now` or later).
    mutating func copied(_ count: UInt64, now: Int64) -> Int64 {
        guard bytesPerSecond > 0, let start else { return now }
        bytes += count
        let due = start + Int64((Double(bytes) / Double(bytesPerSecond) * 1e9).rounded(.up))
        return max(now, due)
    }
}
