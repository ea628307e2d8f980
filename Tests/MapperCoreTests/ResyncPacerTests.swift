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
}
