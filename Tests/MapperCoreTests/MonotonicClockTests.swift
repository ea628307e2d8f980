import Testing

@testable import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// `MonotonicClock`: CLOCK_MONOTONIC, and the wall-clock dates derived from its readings.
@Suite("Monotonic clock")
struct MonotonicClockTests {
    private static func gettime() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    @Test("readings never step back and stay between clock_gettime's around them")
    func followsClockGettime() {
        var previous = MonotonicClock.now()
        var wrong = 0
        for _ in 0..<100_000 {
            let before = Self.gettime()
            let reading = MonotonicClock.now()
            let after = Self.gettime()
            if reading < previous || reading < before || reading > after { wrong += 1 }
            previous = reading
        }
        #expect(wrong == 0)
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
