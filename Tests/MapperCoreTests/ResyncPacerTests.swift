import Testing

@testable import MapperCore

/// The resync pace as a table: (bytes copied, time the copy ended) → when the next may start.
@Suite("Resync pacer")
struct ResyncPacerTests {
    @Test("unlimited: the next copy starts at once")
    func unlimited() {
        var pacer = ResyncPacer(bytesPerSecond: 0)
        pacer.copyStarts(now: 0)
        #expect(pacer.copied(1 << 30, now: 5) == 5)
    }

    @Test("1 MiB/s: each 256 KiB region waits for its quarter second, fast copies earn no burst")
    func paced() {
        let second: Int64 = 1_000_000_000
        var pacer = ResyncPacer(bytesPerSecond: 1 << 20)
        pacer.copyStarts(now: 10 * second)
        // Copies that take 1 ms each: the pace, not the copy, sets the start times.
        #expect(pacer.copied(256 << 10, now: 10 * second + 1_000_000) == 10 * second + second / 4)
        pacer.copyStarts(now: 10 * second + second / 4)
        #expect(pacer.copied(256 << 10, now: 10 * second + second / 4 + 1_000_000) == 10 * second + second / 2)
        // A slow copy (a second for 256 KiB): the next starts when it ends, no later.
        pacer.copyStarts(now: 10 * second + second / 2)
        #expect(pacer.copied(256 << 10, now: 12 * second) == 12 * second)
    }

    @Test("a new rate or a restart begins a new run: no credit from before")
    func restart() {
        let second: Int64 = 1_000_000_000
        var pacer = ResyncPacer(bytesPerSecond: 1 << 20)
        pacer.copyStarts(now: 0)
        _ = pacer.copied(1 << 20, now: 100 * second)
        pacer.restart()
        pacer.copyStarts(now: 200 * second)
        #expect(pacer.copied(512 << 10, now: 200 * second) == 200 * second + second / 2)
        pacer.setRate(2 << 20)
        pacer.copyStarts(now: 300 * second)
        #expect(pacer.copied(512 << 10, now: 300 * second) == 300 * second + second / 4)
    }

    @Test(
        "foreground I/O seen within the window: one copy at a time, each followed by a pause of twenty times its length",
        arguments: [
            // (last foreground I/O, copies at once, next start after a 1 ms copy ending at 10 s)
            (Int64.min, 4, Int64(10_000_000_000)),
            (9_700_000_000, 4, 10_000_000_000),
            (9_800_000_000, 1, 10_020_000_000),
            (10_000_000_000, 1, 10_020_000_000),
        ])
    func yields(lastForeground: Int64, copies: Int, next: Int64) {
        let now: Int64 = 10_000_000_000
        var pacer = ResyncPacer(bytesPerSecond: 0)
        #expect(pacer.copiesAtOnce(idle: 4, now: now, lastForeground: lastForeground) == copies)
        pacer.copyStarts(now: now - 1_000_000)
        #expect(pacer.copied(512 << 10, took: 1_000_000, now: now, lastForeground: lastForeground) == next)
    }

    @Test("paced: one copy at a time whatever the foreground, and the later of the pace and the pause wins")
    func pacedAndYielding() {
        let second: Int64 = 1_000_000_000
        var pacer = ResyncPacer(bytesPerSecond: 1 << 20)
        #expect(pacer.copiesAtOnce(idle: 4, now: 10 * second, lastForeground: .min) == 1)
        pacer.copyStarts(now: 10 * second)
        // The pace (a quarter second for 256 KiB) is later than twenty times a 1 ms copy.
        #expect(
            pacer.copied(256 << 10, took: 1_000_000, now: 10 * second, lastForeground: 10 * second) == 10 * second
                + second / 4)
        // A copy that took a second: the pause (twenty seconds) is later than the pace.
        pacer.copyStarts(now: 11 * second)
        #expect(pacer.copied(256 << 10, took: second, now: 12 * second, lastForeground: 12 * second) == 32 * second)
    }
}
