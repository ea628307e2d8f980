/// Paces a mirror's resync to at most `bytesPerSecond` (0: as fast as the mirrors go), and
/// makes it yield to foreground I/O. Pure: times are monotonic nanoseconds given by the caller.
///
/// Yielding: while the mirror's own I/O was seen within ``foregroundWindow``, a pump starts one
/// copy at a time, and each copy's end schedules the next pump after a pause ``yieldFactor``
/// times as long as the copy took. The pause holds for the pump its copy's end schedules, not
/// for the whole resync: the copies started side by side before any foreground I/O was seen
/// (at a move's start) each keep a pump of their own going, and one stops only when it finds
/// a copy in flight, so resync often takes more than a twenty-first of the time. A pause held
/// for the whole resync (no copy before the latest time any copy's end set) was built and
/// measured: moves under the writes below took 6-9 s instead of 2-4 s, and the writes during
/// unlimited moves fell from 0.73-0.79 of alone to 0.42-0.47 on ext4 (two runs each,
/// interleaved; 50 MiB/s unchanged). A mirror costs foreground writes more than its copies
/// do (every write to a region in sync goes to both legs), so the sooner a move ends, the
/// less it costs them. Measured with `mapperd-bench
/// move` (4 KiB random writes at QD16 over NBD during an unlimited move, against the same
/// alone): with half the time for resync, 0.3 to 0.4; a quarter, 0.55 on tmpfs and 0.45 on
/// ext4; a sixth, 0.55-0.65 on tmpfs (three runs) and 0.33-0.55 on ext4 (five); an eleventh,
/// 0.72-0.82 (four) and 0.50-0.69 (six); a twenty-first, 0.84-0.90 and 0.65-0.75 (four
/// each). A 1 GiB move under those writes took 2.9-3.9 s on ext4 and 2.2-2.3 s on tmpfs with
/// a twenty-first, 3.0-3.6 s and 1.6-2.3 s with an eleventh, 2.3-3.3 s and 0.9-1.6 s with a
/// sixth: the copies are short, and so are their pauses. Paced, the later of the pace and the
/// pause wins (a move at 50 MiB/s under those writes still took 21-22 s for 1 GiB): a copy
/// that takes more than a twenty-first of the time its bytes get at the rate holds resync
/// below the rate. A mirror in sync costs writes a quarter or more by itself (two legs). The
/// signal is the time of the latest foreground I/O, not whether any came since the last copy:
/// foreground I/O stalled behind copies would otherwise read as none, and resync would copy
/// more at once just when it should copy less.
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

    /// How recent foreground I/O makes resync yield (nanoseconds).
    static let foregroundWindow: Int64 = 250_000_000
    /// While yielding, a copy is followed by a pause this many times as long as it took.
    static let yieldFactor: Int64 = 20

    /// Whether foreground I/O seen at `lastForeground` is recent at `now`.
    static func yielding(now: Int64, lastForeground: Int64) -> Bool {
        lastForeground > now - foregroundWindow
    }

    /// How many copies may be in flight at `now`: `idle` when unpaced with no recent foreground
    /// I/O, otherwise one.
    func copiesAtOnce(idle: Int, now: Int64, lastForeground: Int64) -> Int {
        bytesPerSecond == 0 && !Self.yielding(now: now, lastForeground: lastForeground) ? idle : 1
    }

    /// A copy of `count` bytes that took `took` ended at `now`: when the next one may start,
    /// the pace's time (``copied(_:now:)``), and while foreground I/O is recent no sooner than
    /// a pause ``yieldFactor`` times as long as the copy.
    mutating func copied(_ count: UInt64, took: Int64, now: Int64, lastForeground: Int64) -> Int64 {
        let due = copied(count, now: now)
        return Self.yielding(now: now, lastForeground: lastForeground) ? max(due, now + took * Self.yieldFactor) : due
    }

    /// A copy of `count` bytes ended at `now`: when the next one may start (`now` or later).
    mutating func copied(_ count: UInt64, now: Int64) -> Int64 {
        guard bytesPerSecond > 0, let start else { return now }
        bytes += count
        let due = start + Int64((Double(bytes) / Double(bytesPerSecond) * 1e9).rounded(.up))
        return max(now, due)
    }
}
