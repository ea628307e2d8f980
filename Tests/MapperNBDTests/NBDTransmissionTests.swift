import Testing

@testable import MapperNBD

/// ``NBDTransmission`` as tables of inputs and actions, without a channel: backpressure,
/// parking at the engine's queue limits, the flush policy, `DISC` with requests in flight,
/// shutdown before and during transmission, and the busy-poll window.
@Suite("NBD transmission")
struct NBDTransmissionTests {
    static func transmitting(_ limits: NBDTransmission.Limits = .init(maxInFlight: 2, maxInFlightBytes: 8192))
        -> NBDTransmission
    {
        var machine = NBDTransmission(limits: limits)
        machine.began()
        return machine
    }

    @Test("backpressure: reading stops at the request limit and resumes when one ends")
    func requestLimit() {
        var machine = Self.transmitting()
        #expect(machine.readRequested() == [.read])
        #expect(machine.requestArrived(isDisconnect: false) == .serve)
        machine.started(bytes: 512)
        #expect(machine.readRequested() == [.read])
        machine.started(bytes: 512)
        #expect(machine.readRequested() == [], "two in flight: the read waits")
        #expect(machine.readPending)
        #expect(machine.ended(bytes: 512, now: 0) == [.read], "one ended: the waiting read is made")
        #expect(!machine.readPending)
        #expect(machine.ended(bytes: 512, now: 0) == [], "no read was waiting")
        #expect(machine.inFlight == 0 && machine.inFlightBytes == 0)
    }

    @Test("backpressure: the byte limit and an unwritable socket stop reading too")
    func byteLimitAndWritability() {
        var machine = Self.transmitting()
        machine.started(bytes: 8192)
        #expect(machine.readRequested() == [])
        #expect(machine.ended(bytes: 8192, now: 0) == [.read])
        #expect(machine.writabilityChanged(false) == [])
        #expect(machine.readRequested() == [])
        #expect(machine.writabilityChanged(true) == [.read])
        #expect(machine.writabilityChanged(true) == [], "nothing waiting any more")
    }

    @Test("parking: a refused bio stops reading and keeps later ones behind it until room comes")
    func parking() {
        var machine = Self.transmitting(.init(maxInFlight: 16, maxInFlightBytes: 1 << 20))
        machine.started(bytes: 4096)
        #expect(!machine.mustPark)
        machine.parkedOne()
        #expect(machine.mustPark, "order: a later bio parks behind the refused one")
        machine.started(bytes: 4096)
        machine.parkedOne()
        #expect(machine.readRequested() == [])
        #expect(machine.unparkedOne() == [], "one still parked")
        #expect(machine.unparkedOne() == [.read], "none parked: reading resumes")
    }

    @Test("flushes: once per read burst, at once outside one")
    func flushPolicy() {
        var machine = Self.transmitting()
        machine.burstBegan(now: 0)
        #expect(machine.wrote() == [], "inside a burst the burst's end flushes")
        #expect(machine.wrote() == [])
        #expect(machine.burstEnded(now: 0) == [.flush])
        #expect(machine.burstEnded(now: 0) == [], "nothing written since")
        #expect(machine.wrote() == [.flush], "a bio ending outside a burst is flushed at once")
    }

    @Test("flushes: once per batch of ends from other threads; a burst under way flushes for it")
    func endBatchFlush() {
        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        machine.started(bytes: 4096)
        machine.started(bytes: 4096)
        machine.endBatchBegan()
        #expect(machine.wrote() == [], "inside a batch the batch's end flushes")
        #expect(machine.ended(bytes: 4096, now: 0) == [], "one still in flight")
        #expect(machine.wrote() == [])
        #expect(machine.ended(bytes: 4096, now: 0) == [], "inside the batch: not idle yet")
        #expect(machine.endBatchEnded(now: 0) == [.flush], "one flush for the batch; no lockstep client to poll for")
        #expect(machine.endBatchEnded(now: 0) == [], "nothing written since")

        // A batch replied to while a read burst is open leaves the flush to the burst.
        machine.burstBegan(now: 0)
        machine.started(bytes: 4096)
        machine.endBatchBegan()
        #expect(machine.wrote() == [])
        #expect(machine.ended(bytes: 4096, now: 0) == [])
        #expect(machine.endBatchEnded(now: 0) == [], "the burst flushes")
        #expect(machine.needsFlush)
        #expect(machine.burstEnded(now: 0) == [.flush])
        #expect(machine.wrote() == [.flush], "outside both: at once")
    }

    @Test("DISC with requests in flight: flush, drain, refuse what follows; a second DISC does nothing")
    func disconnect() {
        var machine = Self.transmitting()
        machine.burstBegan(now: 0)
        machine.started(bytes: 512)
        #expect(machine.wrote() == [])
        #expect(machine.requestArrived(isDisconnect: true) == .disconnect([.flush, .drainThenClose]))
        #expect(machine.draining)
        #expect(machine.readRequested() == [], "no reading while draining")
        #expect(machine.requestArrived(isDisconnect: false) == .refuse(NBD.ESHUTDOWN))
        #expect(machine.wrote() == [.flush], "replies while draining go out at once")
        #expect(machine.ended(bytes: 512, now: 0) == [])
        #expect(machine.requestArrived(isDisconnect: true) == .disconnect([]))
    }

    @Test("shutdown: before transmission it closes; during it drains and refuses new requests")
    func shutdown() {
        var handshaking = NBDTransmission()
        #expect(handshaking.shutdown() == [.close])

        var machine = Self.transmitting()
        machine.started(bytes: 512)
        #expect(machine.shutdown() == [.drainThenClose])
        #expect(machine.requestArrived(isDisconnect: false) == .refuse(NBD.ESHUTDOWN))
        #expect(machine.shutdown() == [], "already draining")
        #expect(machine.requestArrived(isDisconnect: true) == .disconnect([]))
    }

    /// One request served inline within a burst at `at`, its reply flushed at the burst's end.
    static func serveInline(_ machine: inout NBDTransmission, at: UInt64) -> [NBDTransmission.Action] {
        machine.burstBegan(now: at)
        #expect(machine.requestArrived(isDisconnect: false) == .serve)
        machine.started(bytes: 4096)
        #expect(machine.wrote() == [])
        #expect(machine.ended(bytes: 4096, now: at) == [], "inside the burst: not idle yet")
        return machine.burstEnded(now: at)
    }

    @Test("busy poll: idle after a reply, ticks until the window closes, restarts when idle again")
    func busyPollWindow() {
        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        #expect(Self.serveInline(&machine, at: 1_000) == [.flush, .pollTick], "idle: flush, then poll")
        #expect(machine.pollTick(now: 2_000) == [.pollTick])
        #expect(machine.pollTick(now: 50_999) == [.pollTick], "the window is open until 51,000")
        #expect(machine.pollTick(now: 51_000) == [], "closed")
        #expect(machine.pollDeadline == nil && !machine.pollScheduled)

        // The client came back 20 µs after the connection fell idle: poll again.
        #expect(Self.serveInline(&machine, at: 21_000) == [.flush, .pollTick])
        #expect(machine.lastIdleGap == 20_000)
        // A request arrives while a tick is scheduled: the tick finds it busy and stops;
        // the request's end restarts the window (one tick scheduled at a time).
        machine.burstBegan(now: 30_000)
        #expect(machine.requestArrived(isDisconnect: false) == .serve)
        machine.started(bytes: 4096)
        #expect(machine.burstEnded(now: 30_000) == [], "in flight: not idle")
        #expect(machine.pollTick(now: 31_000) == [], "busy: the tick stops")
        #expect(machine.wrote() == [.flush], "the reply outside a burst goes at once")
        #expect(machine.ended(bytes: 4096, now: 40_000) == [.pollTick], "idle again")
        #expect(machine.pollDeadline == 90_000)
    }

    @Test("busy poll is adaptive: a client slower than twice the window stops it; a quick one starts it again")
    func busyPollAdaptive() {
        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        #expect(Self.serveInline(&machine, at: 0) == [.flush, .pollTick], "the first idle period polls")
        #expect(machine.pollTick(now: 60_000) == [])
        // The client came back after 150 µs (more than 100): the next idle period sleeps.
        #expect(Self.serveInline(&machine, at: 150_000) == [.flush])
        #expect(machine.lastIdleGap == 150_000)
        // It came back after 90 µs (without polling): poll again.
        #expect(Self.serveInline(&machine, at: 240_000) == [.flush, .pollTick])
        #expect(machine.lastIdleGap == 90_000)
    }

    @Test("busy poll only for a client in lockstep: two requests in one busy period, no polling")
    func busyPollLockstep() {
        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        machine.burstBegan(now: 0)
        for _ in 0..<2 {
            #expect(machine.requestArrived(isDisconnect: false) == .serve)
            machine.started(bytes: 4096)
        }
        #expect(machine.burstEnded(now: 0) == [])
        #expect(machine.wrote() == [.flush])
        #expect(machine.ended(bytes: 4096, now: 1_000) == [])
        #expect(machine.wrote() == [.flush])
        #expect(machine.ended(bytes: 4096, now: 2_000) == [], "idle after two requests: no polling")
        #expect(Self.serveInline(&machine, at: 10_000) == [.flush, .pollTick], "then one: polling")
    }

    @Test("busy poll: never when off, never while draining, parked or shutting down")
    func busyPollOff() {
        var off = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20))
        #expect(Self.serveInline(&off, at: 0) == [.flush], "0 ns: no polling")

        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        machine.started(bytes: 4096)
        machine.parkedOne()
        #expect(machine.ended(bytes: 4096, now: 0) == [], "a parked request: not idle")
        #expect(machine.unparkedOne() == [])
        #expect(machine.shutdown() == [.drainThenClose])
        #expect(machine.pollTick(now: 1) == [])
        machine.started(bytes: 512)
        #expect(machine.ended(bytes: 512, now: 2) == [], "draining: no polling")
    }

    @Test("busy poll is measured: a connection whose gaps are shorter asleep stops polling, and says why")
    func busyPollMeasured() {
        var machine = Self.transmitting(.init(maxInFlight: 4, maxInFlightBytes: 1 << 20, busyPollNanos: 50_000))
        var now: UInt64 = 0
        // Polling, the client takes 80 µs to come back; sleeping, 30 µs.
        #expect(Self.serveInline(&machine, at: now) == [.flush, .pollTick])
        for _ in 0..<NBDBusyPollTuner.trialSamples {
            #expect(machine.pollTick(now: now + 60_000) == [], "the window closed before the client came back")
            now += 80_000
            let actions = Self.serveInline(&machine, at: now)
            #expect(actions == (machine.tuner.polls ? [.flush, .pollTick] : [.flush]))
        }
        #expect(!machine.tuner.polls, "the trial's second half sleeps")
        for i in 0..<NBDBusyPollTuner.trialSamples {
            now += 30_000
            let trial = machine.burstBegan(now: now)
            let last = i == NBDBusyPollTuner.trialSamples - 1
            #expect(trial == (last ? .init(polling: 80_000, sleeping: 30_000) : nil), "the trial ends, for the log")
            #expect(machine.burstBegan(now: now) == nil, "the gap is counted once per idle period")
            #expect(machine.requestArrived(isDisconnect: false) == .serve)
            machine.started(bytes: 4096)
            #expect(machine.wrote() == [])
            #expect(machine.ended(bytes: 4096, now: now) == [])
            #expect(machine.burstEnded(now: now) == [.flush], "sleeping: no polling")
        }
        #expect(machine.tuner.lastTrial == .init(polling: 80_000, sleeping: 30_000))
        #expect(!machine.tuner.polls)
        #expect(Self.serveInline(&machine, at: now + 10_000) == [.flush], "settled on sleeping")
    }
}
