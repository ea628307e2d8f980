import Testing

@testable import MapperCore

/// A fenced device (its host's lease may have run out) holds new bios in `deferred` and
/// re-issues nothing until the fence lifts, whatever suspends and resumes do meanwhile.
@Suite("Device fence")
struct DeviceFenceTests {
    typealias Machine = DeviceStateMachine<Int, String>

    static func lines(_ actions: [Machine.Action]) -> [String] { DeviceStateMachineTests.lines(actions) }

    @Test("fence: the gate closes and bios wait; unfence re-issues them and opens the gate")
    func fenceActive() throws {
        var machine = try DeviceStateMachineTests.active()
        #expect(machine.gateOpen)
        machine.fence()
        #expect(machine.fenced && machine.blockIO && !machine.gateOpen)
        #expect(machine.deferBio(1) == 1)
        #expect(machine.deferBio(2) == 2)
        #expect(machine.takeDeferred() == nil, "nothing leaves deferred while fenced")
        #expect(machine.deferred == [1, 2] && machine.blockIO)
        #expect(Self.lines(machine.unfence()) == ["reissue deferred"])
        #expect(machine.takeDeferred()?.bios == [1, 2])
        #expect(machine.takeDeferred() == nil)
        #expect(!machine.blockIO && machine.gateOpen)
        #expect(Self.lines(machine.unfence()).isEmpty, "a second unfence does nothing")
    }

    @Test("a resume while fenced re-issues nothing; the device stays fenced until unfence")
    func resumeWhileFenced() throws {
        var machine = try DeviceStateMachineTests.active()
        machine.fence()
        #expect(Self.lines(try machine.suspend(noflush: false, nolockfs: false)) == ["presuspend A"])
        _ = machine.presuspendDone(failurePoint: nil)
        _ = machine.pendingWaitEnded(drained: true, pendingNow: 0)
        _ = machine.postsuspendDone()
        #expect(machine.suspended)
        #expect(machine.deferBio(7) == 1)
        #expect(Self.lines(machine.unfence()).isEmpty, "suspended: its resume re-issues")
        machine.fence()
        _ = try machine.resume(noflush: false)
        #expect(!machine.suspended)
        #expect(machine.takeDeferred() == nil, "fenced: the resume's re-issue leaves the bio waiting")
        #expect(machine.deferred == [7] && !machine.gateOpen)
        #expect(Self.lines(machine.unfence()) == ["reissue deferred"])
        #expect(machine.takeDeferred()?.bios == [7])
        #expect(machine.takeDeferred() == nil)
        #expect(machine.gateOpen)
    }
}
