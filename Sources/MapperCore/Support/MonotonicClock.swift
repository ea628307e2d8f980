import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Nanoseconds of `CLOCK_MONOTONIC`, the one clock a bio reads: once when it is created and
/// once when it ends, each a vDSO `clock_gettime` (about 25 ns hot, several times that on an
/// I/O path just woken from sleep: 4–6 % of an NBD connection's thread, so a caller that needs
/// the time of a bio's end takes ``Bio/completedNanos`` rather than a new reading; public for
/// that, as an NBD connection keeps its idle clock in the same time). The same two readings
/// give its latency (the device statistics) and, through a wall-clock offset sampled once per
/// process, its `submittedAt` and `completedAt` for people and logs. A wall-clock step after
/// start-up therefore does not move bio timestamps; they stay consistent with each other and
/// with the latencies.
///
/// (A time-stamp-counter clock saved about 15 ns per reading, 2 % of a 4 KiB read the NBD way
/// through a linear device; below the 5 % that would pay for its calibration, re-anchoring and
/// trust decisions, so it went.)
public enum MonotonicClock {
    /// `CLOCK_MONOTONIC` now.
    @inlinable
    public static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
    }

    /// Wall-clock nanoseconds since the epoch minus monotonic nanoseconds, sampled once.
    static let wallOffset: Int64 = {
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let wallNanos = Int64(wall.tv_sec) * 1_000_000_000 + Int64(wall.tv_nsec)
        return wallNanos - now()
    }()

    /// The wall-clock date of a monotonic reading.
    static func date(_ monotonic: Int64) -> Date {
        Date(timeIntervalSince1970: Double(monotonic &+ wallOffset) / 1e9)
    }

    /// The monotonic reading of a wall-clock date (a bio restored from the journal keeps its
    /// original submission time; the reading may be negative, before this boot).
    static func reading(of date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970 * 1e9) &- wallOffset
    }
}
