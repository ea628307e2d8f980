import MapperStore
import Testing

/// The lease as a table of times and inputs, with a 12 s lease (renew every 4 s, serve for
/// 10 s after a renewal was sent, tick every 1 s, grace 4 s).
@Suite("Host lease")
struct HostLeaseTests {
    static let start = ContinuousClock.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    @Test("the timings: renew at a third, fence a sixth before expiry, grace a third, tick a twelfth")
    func timings() {
        let timing = HostLease.Timing(lease: .seconds(12))
        #expect(timing.renewEvery == .seconds(4))
        #expect(timing.serveFor == .seconds(10))
        #expect(timing.grace == .seconds(4))
        #expect(timing.tick == .seconds(1))
        // A fence at most a tick late still comes before the lease's earliest expiry.
        #expect(timing.serveFor + timing.tick < timing.lease)
    }

    @Test("renewals every third of the lease keep the host serving; one in flight at a time")
    func steady() {
        var lease = HostLease(timing: .init(lease: .seconds(12)), acquiredAt: Self.at(0))
        #expect(lease.tick(now: Self.at(1)).isEmpty)
        #expect(lease.tick(now: Self.at(4)) == [.renew])
        #expect(lease.tick(now: Self.at(5)).isEmpty, "one renewal in flight")
        #expect(lease.renewed(now: Self.at(5)).isEmpty)
        #expect(lease.servesUntil == Self.at(14))
        #expect(lease.tick(now: Self.at(8)) == [.renew])
        #expect(lease.renewed(now: Self.at(8.1)).isEmpty)
        #expect(lease.tick(now: Self.at(17)) == [.renew])
        #expect(!lease.fenced)
    }

    @Test("renewals that fail: retried at each tick; the fence comes at serveFor after the last confirmed send")
    func failing() {
        var lease = HostLease(timing: .init(lease: .seconds(12)), acquiredAt: Self.at(0))
        #expect(lease.tick(now: Self.at(4)) == [.renew])
        lease.renewalFailed()
        #expect(lease.tick(now: Self.at(5)) == [.renew], "retried at the next tick")
        lease.renewalFailed()
        #expect(lease.tick(now: Self.at(9)) == [.renew])
        lease.renewalFailed()
        #expect(lease.tick(now: Self.at(10)) == [.fence, .renew])
        #expect(lease.fenced)
        lease.renewalFailed()
        #expect(lease.tick(now: Self.at(11)) == [.renew], "fenced once")
        #expect(lease.renewed(now: Self.at(11.5)) == [.unfence], "confirmed again: serves until 21")
        #expect(!lease.fenced && lease.servesUntil == Self.at(21))
    }

    @Test("a renewal that hangs does not hold the fence off; its late answer lifts it only if still in time")
    func hanging() {
        var lease = HostLease(timing: .init(lease: .seconds(12)), acquiredAt: Self.at(0))
        #expect(lease.tick(now: Self.at(4)) == [.renew])
        #expect(lease.tick(now: Self.at(9)).isEmpty, "still waiting for it")
        #expect(lease.tick(now: Self.at(10)) == [.fence])
        // Sent at 4, confirmed at 13.5: it covers until 14, so the fence lifts.
        #expect(lease.renewed(now: Self.at(13.5)) == [.unfence])
        #expect(lease.tick(now: Self.at(14)) == [.fence, .renew])
        // Sent at 14, answered at 24.5: past 24, the answer is too late to lift the fence.
        #expect(lease.renewed(now: Self.at(24.5)).isEmpty)
        #expect(lease.fenced)
    }

    @Test("an answer without a renewal in flight changes nothing")
    func strayAnswer() {
        var lease = HostLease(timing: .init(lease: .seconds(12)), acquiredAt: Self.at(0))
        #expect(lease.renewed(now: Self.at(1)).isEmpty)
        #expect(lease.servesUntil == Self.at(10))
    }
}
