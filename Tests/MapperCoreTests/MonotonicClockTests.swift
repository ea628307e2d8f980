import CMapperSys
import Testing

@testable import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// `MonotonicClock`: CLOCK_MONOTONIC, read through the time-stamp counter where the kernel
/// trusts it, without leaving clock_gettime's timeline.
@Suite("Monotonic clock")
struct MonotonicClockTests {
    private static func gettime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    @Test("readings stay between clock_gettime's around them through calibration and re-anchoring")
    func followsClockGettime() {
        // Calibrate after 1 ms and re-anchor every 2 ms, so that 40 ms see both many times.
        cmapper_monotonic_set_intervals(1_000_000, 2_000_000)
        defer { cmapper_monotonic_set_intervals(200_000_000, 1_000_000_000) }
        let trusted = cmapper_monotonic_uses_tsc() != 0
        let start = Self.gettime()
        var previous = MonotonicClock.now()
        var outside: Int64 = 0
        var stepBack: Int64 = 0
        var readings = 0
        var sawCounter = false
        while Self.gettime() - start < 40_000_000 {
            let before = Self.gettime()
            let reading = MonotonicClock.now()
            let after = Self.gettime()
            outside = max(outside, before - reading, reading - after)
            stepBack = max(stepBack, previous - reading)
            previous = reading
            readings += 1
            if cmapper_monotonic_uses_tsc() == 1 { sawCounter = true }
        }
        #expect(readings > 1000)
        // The scale is measured over each 2 ms interval: its error over one interval is a few
        // hundred nanoseconds at worst. 20 µs leaves room for a loaded machine.
        #expect(outside < 20_000, "a reading was \(outside) ns outside clock_gettime's")
        #expect(stepBack < 20_000, "the clock stepped back by \(stepBack) ns")
        // Where the kernel keeps time with the counter, the clock has switched to it.
        if trusted { #expect(sawCounter) }
    }

    @Test("wall-clock dates of readings keep their order and spacing")
    func datesFollowReadings() {
        let first = MonotonicClock.now()
        let second = first + 1_500_000_000
        let interval = MonotonicClock.date(second).timeIntervalSince(MonotonicClock.date(first))
        #expect(abs(interval - 1.5) < 1e-5)
        #expect(abs(Double(MonotonicClock.reading(of: MonotonicClock.date(first)) - first)) < 10_000)
    }
}
