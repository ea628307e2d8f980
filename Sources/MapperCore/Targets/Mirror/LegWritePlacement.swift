/// Where a mirror issues one leg's writes: on the thread that mapped the write (inline, as
/// every leg starts), or on a serial queue of the leg's own, so that a slow leg's `pwrite`
/// runs beside the other legs' instead of after them. A pure state machine: the mirror times
/// each `submit` of the leg's writes (wherever it ran) and reports it with
/// ``observe(nanos:)``; the answer says where the next writes go.
///
/// The choice is by cost. Handing a write to another thread cost the mapping thread about
/// 5 µs of its time when each write woke the queue and each end came back on its own (before
/// ``MirrorLegWriter`` gathered them into runs and NBD its replies into one flush): on tmpfs,
/// where a 4 KiB `pwrite` of a page-cache hit takes about a microsecond, queueing the second
/// leg of a mirror in sync took foreground writes over NBD from 0.90 to 0.60 of a linear
/// device's. On ext4 with large folios (Linux 6.18) the same `pwrite` takes 12–16 µs (the
/// kernel walks every block of the folio) and the mapping thread was the bottleneck with a
/// CPU left a third idle: queueing took the mirror from 0.45–0.56 to 0.57–0.77 of linear. So a leg
/// goes to its queue when the moving average of its writes' submit time reaches
/// ``queueAtNanos`` and comes back inline when it falls below ``inlineBelowNanos`` (the gap
/// keeps it from flapping on a cost near the line). A time counts for at most
/// ``sampleCapNanos``: a thread preempted in the middle of one `submit` on a busy machine
/// (hundreds of microseconds) must not move a fast leg's writes off its thread: it takes ten
/// such in a row. On ext4 with small folios (a file whose pages were not cached), where the
/// `pwrite` takes about 3 µs, queueing the second leg (thresholds of 2 and 1 µs, tried) took a
/// mirror in sync from 77,000-81,000 IOPS inline to 54,000-64,000: the hand-over costs more
/// than the write it moves.
///
/// The default mirror (the first leg of each write) stays inline (``plan(_:)``); only the
/// other legs go to their queues. Writes to regions not in sync go to the default mirror
/// alone, inline, and ext4 takes a file's inode lock exclusively for every buffered write:
/// with the default mirror's in-sync writes on its queue, the mapping thread and the queue
/// waited for each other on that lock (a sampling profile of the event loop during a move at
/// 50 MiB/s: 12% of its time spinning in `rwsem_spin_on_owner` with the source's in-sync
/// writes queued, none with the destination's queued instead). A write to one leg alone is
/// not handed over at all. (Choosing the cheapest leg instead flapped between two legs of the
/// same cost and measured worse.)
///
/// Not thread-safe: the mirror keeps one per leg behind a lock.
struct LegWritePlacement: Equatable {
    enum Place: Equatable {
        case inline
        case queued
    }

    /// Where the leg's next writes go.
    private(set) var place = Place.inline
    /// The moving average of the submit times reported, nanoseconds (each new one weighs
    /// 1/``weight``).
    private(set) var averageNanos: Int64 = 0
    /// Times reported so far, up to ``warmUp``: no move before that many.
    private(set) var samples = 0

    /// The average at or above which the leg's writes are queued.
    static let queueAtNanos: Int64 = 8_000
    /// The average below which a queued leg's writes come back inline.
    static let inlineBelowNanos: Int64 = 4_000
    /// The most one time counts for.
    static let sampleCapNanos: Int64 = 2 * queueAtNanos
    /// Each new time's weight in the average is 1/16.
    static let weight: Int64 = 16
    /// Times reported before the first move.
    static let warmUp = 16

    /// For one write to the legs whose placements are `legs`, in order (the default mirror
    /// first): whether each goes to its leg's queue. The first is written inline; each other
    /// leg goes where its place says.
    static func plan(_ legs: [LegWritePlacement]) -> [Bool] {
        legs.indices.map { $0 > 0 && legs[$0].place == .queued }
    }

    /// Reports how long one `submit` of a write to the leg took; returns the new place when it
    /// changed.
    mutating func observe(nanos: Int64) -> Place? {
        let sample = min(max(nanos, 0), Self.sampleCapNanos)
        if samples == 0 {
            averageNanos = sample
        } else {
            averageNanos += (sample - averageNanos) / Self.weight
        }
        if samples < Self.warmUp { samples += 1 }
        guard samples >= Self.warmUp else { return nil }
        switch place {
        case .inline where averageNanos >= Self.queueAtNanos:
            place = .queued
        case .queued where averageNanos < Self.inlineBelowNanos:
            place = .inline
        default:
            return nil
        }
        return place
    }
}
