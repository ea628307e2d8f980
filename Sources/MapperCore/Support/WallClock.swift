import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock time as nanoseconds since the Unix epoch, converted to `Date` only when read.
///
/// Bio timestamps use the coarse clock (one vDSO read of the last tick, a few nanoseconds;
/// resolution one kernel tick, a few milliseconds): they are for people and logs, not for
/// measuring latency.
enum WallClock {
    @inline(__always)
    static func nowNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func date(_ nanos: Int64) -> Date {
        Date(timeIntervalSince1970: Double(nanos) / 1e9)
    }

    static func nanos(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970 * 1e9)
    }
}
