/// Where a mirror issues one leg's writes: on the thread that mapped the write (inline, as
/// every leg starts), or on a serial queue of the leg's own, so that a slow leg's `pwrite`
/// runs beside the other legs' instead of after them. A pure state machine: the mirror times
/// each `submit` of the leg's writes (wherever it ran) and reports it with
/// ``observe(nanos:)``; the answer says where the next writes go.
///
/// The choice is by cost. Handing a write to another thread costs the mapping thread about
/// 5 µs of its time (the queue's wake-up, the end coming back from another thread): on tmpfs,
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
/// One leg of each write stays inline (``plan(_:)``): when every leg is slow, the mapping
/// thread writes the first while the queues write the others, and a write to one leg alone (a
/// region not in sync) is not handed over at all. During a move the source, written earlier in
/// large pieces, goes to its queue, and the destination, whose page cache resync leaves with
/// small folios, stays inline. (Choosing the cheapest leg instead flapped between two legs of
/// the same cost and measured worse.)
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

    /// For one write to the legs whose placements are `legs`, in order: whether each goes to
    /// its leg's queue. Each leg goes where its place says, except that when every leg says
    /// queued, the first is written inline.
    static func plan(_ legs: [LegWritePlacement]) -> [Bool] {
        var queued = legs.map { $0.place == .queued }
        if !queued.isEmpty && !queued.contains(false) { queued[0] = false }
        return queued
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
