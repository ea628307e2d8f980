import Testing

@testable import MapperNBD

/// ``NBDTransmission`` as tables of inputs and actions, without a channel: backpressure,
/// parking at the engine's queue limits, the flush policy, `DISC` with requests in flight,
/// and shutdown before and during transmission.
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
        #expect(machine.ended(bytes: 512) == [.read], "one ended: the waiting read is made")
        #expect(!machine.readPending)
        #expect(machine.ended(bytes: 512) == [], "no read was waiting")
        #expect(machine.inFlight == 0 && machine.inFlightBytes == 0)
    }

    @Test("backpressure: the byte limit and an unwritable socket stop reading too")
    func byteLimitAndWritability() {
        var machine = Self.transmitting()
        machine.started(bytes: 8192)
        #expect(machine.readRequested() == [])
        #expect(machine.ended(bytes: 8192) == [.read])
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
        machine.burstBegan()
        #expect(machine.wrote() == [], "inside a burst the burst's end flushes")
        #expect(machine.wrote() == [])
        #expect(machine.burstEnded() == [.flush])
        #expect(machine.burstEnded() == [], "nothing written since")
        #expect(machine.wrote() == [.flush], "a bio ending outside a burst is flushed at once")
    }

    @Test("DISC with requests in flight: flush, drain, refuse what follows; a second DISC does nothing")
    func disconnect() {
        var machine = Self.transmitting()
        machine.burstBegan()
        machine.started(bytes: 512)
        #expect(machine.wrote() == [])
        #expect(machine.requestArrived(isDisconnect: true) == .disconnect([.flush, .drainThenClose]))
        #expect(machine.draining)
        #expect(machine.readRequested() == [], "no reading while draining")
        #expect(machine.requestArrived(isDisconnect: false) == .refuse(NBD.ESHUTDOWN))
        #expect(machine.wrote() == [.flush], "replies while draining go out at once")
        #expect(machine.ended(bytes: 512) == [])
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
}
