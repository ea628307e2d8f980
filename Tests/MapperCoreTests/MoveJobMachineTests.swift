import Testing

@testable import MapperCore

/// The move job's phases as tables of inputs and actions, without devices or threads.
@Suite("Move job machine")
struct MoveJobMachineTests {
    typealias Machine = MoveJobMachine

    /// A job whose mirror is in place and syncing.
    static func syncing(rate: UInt64 = 0) -> Machine {
        var machine = Machine(rate: rate)
        _ = machine.start()
        _ = machine.loaded(.mirrored, error: nil)
        return machine
    }

    @Test("a move runs starting, syncing, finishing, completed; the logs go once the mirror is gone")
    func happyPath() {
        var machine = Machine(rate: 100)
        #expect(machine.start() == [.persist, .announce(.starting), .load(.mirrored)])
        #expect(machine.phase == .starting && machine.swapping == .mirrored)
        #expect(machine.loaded(.mirrored, error: nil) == [.persist, .announce(.syncing), .setRate(100)])
        #expect(machine.phase == .syncing && machine.onMirror)
        #expect(machine.synced() == [.persist, .announce(.finishing), .load(.destination)])
        #expect(machine.synced() == [], "one swap at a time")
        #expect(machine.loaded(.destination, error: nil) == [.removeHelpers, .persist, .announce(.completed)])
        #expect(machine.phase == .completed && !machine.onMirror && machine.error == nil)
    }

    @Test("a failed first swap fails the job and removes the logs; the device keeps its table")
    func firstSwapFails() {
        var machine = Machine(rate: 0)
        _ = machine.start()
        #expect(machine.loaded(.mirrored, error: "EIO") == [.removeHelpers, .persist, .announce(.failed)])
        #expect(machine.phase == .failed && !machine.onMirror && machine.error?.contains("EIO") == true)
        #expect(throws: MapperError.self) { try machine.cancel() }
    }

    @Test("cancel: while starting it waits for the mirror, then goes back to the source; while syncing at once")
    func cancel() throws {
        var starting = Machine(rate: 0)
        _ = starting.start()
        #expect(try starting.cancel() == [.persist])
        #expect(starting.loaded(.mirrored, error: nil) == [.persist, .announce(.cancelling), .load(.source)])
        #expect(starting.loaded(.source, error: nil) == [.removeHelpers, .persist, .announce(.cancelled)])
        #expect(starting.phase == .cancelled)

        var syncing = Self.syncing()
        #expect(try syncing.cancel() == [.persist, .announce(.cancelling), .load(.source)])
        #expect(try syncing.cancel() == [], "cancelling already")
        #expect(syncing.synced() == [], "no finishing while cancelling")
        #expect(syncing.loaded(.source, error: nil) == [.removeHelpers, .persist, .announce(.cancelled)])
    }

    @Test("cancel is EBUSY while switching to the destination, EINVAL once ended")
    func cancelRefused() throws {
        var machine = Self.syncing()
        _ = machine.synced()
        #expect(throws: MapperError.self) { try machine.cancel() }
        _ = machine.loaded(.destination, error: nil)
        #expect(throws: MapperError.self) { try machine.cancel() }
        #expect(throws: MapperError.self) { try machine.pause() }
        #expect(throws: MapperError.self) { try machine.throttle(1) }
    }

    @Test("the destination failing a write: back to the source, and the job failed")
    func destinationFails() {
        var machine = Self.syncing()
        #expect(machine.legFailed(source: false) == [.persist, .announce(.cancelling), .load(.source)])
        #expect(machine.loaded(.source, error: nil) == [.removeHelpers, .persist, .announce(.failed)])
        #expect(machine.phase == .failed && machine.error == "the destination failed a write")
    }

    @Test("the source failing a write: failed on the mirror, which a cancel can still undo")
    func sourceFails() throws {
        var machine = Self.syncing()
        #expect(machine.legFailed(source: true) == [.persist, .announce(.failed)])
        #expect(machine.phase == .failed && machine.onMirror)
        #expect(try machine.cancel() == [.persist, .announce(.cancelling), .load(.source)])
        #expect(machine.loaded(.source, error: nil) == [.removeHelpers, .persist, .announce(.cancelled)])
    }

    @Test("a failed switch to the destination fails the job on the mirror, logs kept")
    func destinationSwapFails() {
        var machine = Self.syncing()
        _ = machine.synced()
        #expect(machine.loaded(.destination, error: "ENOSPC") == [.persist, .announce(.failed)])
        #expect(machine.onMirror && machine.phase == .failed)
    }

    @Test("pause, resume and throttle reach the mirrors while syncing and are remembered before")
    func pauseAndThrottle() throws {
        var machine = Machine(rate: 0)
        _ = machine.start()
        #expect(try machine.pause() == [.persist])
        #expect(try machine.pause() == [])
        #expect(try machine.throttle(5) == [.persist])
        #expect(machine.loaded(.mirrored, error: nil) == [.persist, .announce(.syncing), .setRate(5), .freeze(true)])
        #expect(try machine.resume() == [.freeze(false), .persist])
        #expect(try machine.resume() == [])
        #expect(try machine.throttle(0) == [.setRate(0), .persist])
        #expect(try machine.pause() == [.freeze(true), .persist])
    }

    @Test("a restart takes each phase up again; an ended job does nothing")
    func restart() throws {
        var starting = Machine(rate: 7)
        _ = starting.start()
        #expect(starting.restarted() == [.load(.mirrored)])

        var syncing = Self.syncing(rate: 7)
        _ = try syncing.pause()
        #expect(syncing.restarted() == [.setRate(7), .freeze(true)])

        var finishing = Self.syncing()
        _ = finishing.synced()
        #expect(finishing.restarted() == [.load(.destination)])
        #expect(finishing.loaded(.destination, error: nil).contains(.announce(.completed)))
        #expect(finishing.restarted() == [])

        var cancelling = Self.syncing()
        _ = try cancelling.cancel()
        #expect(cancelling.restarted() == [.load(.source)])
    }
}
