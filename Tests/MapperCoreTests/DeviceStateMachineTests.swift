import Testing

@testable import MapperCore

/// The device's life as tables of inputs and the actions they return, without threads: every
/// seed behaviour of SEMANTICS §8 that concerns the device, the orderings of §4, start-up and
/// removal. Bios are numbers, tables are letters.
@Suite("Device state machine")
struct DeviceStateMachineTests {
    typealias Machine = DeviceStateMachine<Int, String>

    /// An action as one short line, so that a sequence reads as a table row.
    static func line(_ action: Machine.Action) -> String {
        switch action {
        case .presuspend(let table): return "presuspend \(table ?? "-")"
        case .presuspendForRemoval(let table): return "presuspend for removal \(table)"
        case .waitForPending: return "wait for pending"
        case .postsuspend(let table): return "postsuspend \(table ?? "-")"
        case .suspendFirst: return "suspend first"
        case .swap: return "swap"
        case .preresumeHooks(let table): return "preresume hooks \(table)"
        case .resumeHooks(let table): return "resume hooks \(table)"
        case .movedToDeferred(let bios, let order): return "pushback \(bios) to deferred from \(order)"
        case .reissueDeferred: return "reissue deferred"
        case .endHeld(let pushback, let deferred, let errno): return "end \(pushback) \(deferred) \(errno.name)"
        case .revokeExternalOpens: return "revoke external opens"
        case .destroy(let table): return "destroy \(table)"
        case .wakeEventWaiters: return "wake event waiters"
        case .keepAliveUntilDrained: return "keep alive until drained"
        case .persist(let record): return "persist \(record)"
        case .emit(let event):
            switch event {
            case .suspendFailed: return "event suspend failed"
            case .suspendInterrupted: return "event suspend interrupted"
            default: return "event \(event)"
            }
        case .fail(let errno, _): return "fail \(errno.name)"
        }
    }

    static func lines(_ actions: [Machine.Action]) -> [String] { actions.map(line) }

    /// An active device with live table A, as create with a table leaves it.
    static func active() throws -> Machine {
        var machine = Machine()
        _ = try machine.load("A")
        _ = try machine.swap(failurePoint: nil, noflush: false)
        #expect(machine.takeDeferred() == nil)
        return machine
    }

    /// Bio `bio` sits in the live multipath target's queue (its bytes count as held).
    static func queue(_ bio: Int, _ machine: inout Machine) {
        _ = machine.bioQueued(firstClone: true)
        machine.held(bytes: 512)
    }

    /// The target hands `bio` back during presuspend (``MultipathTarget``'s queue dispatch):
    /// it leaves the queue and asks for a requeue.
    static func handBack(_ bio: Int, _ machine: inout Machine) -> Machine.Requeue {
        machine.bioDequeued()
        machine.held(bytes: -512)
        let requeue = machine.requeue(bio)
        if case .pushedBack = requeue { machine.held(bytes: 512) }
        return requeue
    }

    @Test("create, load, resume: a new device is suspended with no table, then active with its gate open")
    func createLoadResume() throws {
        var machine = Machine()
        #expect(machine.suspended && machine.blockIO && !machine.gateOpen)
        #expect(Self.lines(try machine.load("A")) == ["event tableLoaded", "persist inactiveTable"])
        #expect(Self.lines(try machine.resume(noflush: false)) == ["swap"])
        #expect(
            Self.lines(try machine.swap(failurePoint: nil, noflush: false)) == [
                "event tableSwapped", "persist swappedTables", "preresume hooks A", "resume hooks A",
                "reissue deferred",
                "event resumed(noflush: false)", "persist device",
            ])
        #expect(machine.blockIO && !machine.gateOpen, "new bios stay behind deferred until it is re-issued")
        #expect(machine.takeDeferred() == nil)
        #expect(!machine.suspended && !machine.blockIO && machine.gateOpen && machine.live == "A")
    }

    @Test("seed 3-7: queued bios are handed back by a noflush suspend, held, queued again on resume")
    func noflushPushback() throws {
        var machine = try Self.active()
        Self.queue(1, &machine)
        #expect(!machine.gateOpen, "a device holding I/O takes the locked path")
        // Step 1 before step 2: the flag is set when presuspend runs.
        #expect(Self.lines(try machine.suspend(noflush: true, nolockfs: false)) == ["presuspend A"])
        #expect(machine.noflushSuspending && machine.nolockfs)
        #expect(Self.handBack(1, &machine) == .pushedBack(order: 1))
        #expect(Self.lines(machine.presuspendDone(failurePoint: nil)) == ["wait for pending"])
        #expect(machine.blockIO)
        // A bio arriving during the suspend waits behind the pushed-back one.
        #expect(machine.deferBio(2) == 2)
        #expect(
            Self.lines(machine.pendingWaitEnded(drained: true, pendingNow: 0)) == [
                "pushback [1] to deferred from -1", "postsuspend A",
            ])
        #expect(machine.deferred == [1, 2] && machine.pushback.isEmpty && !machine.noflushSuspending)
        #expect(Self.lines(machine.postsuspendDone()) == ["event suspended(noflush: true)", "persist device"])
        #expect(machine.suspended && !machine.suspending)
        // Seed 6: resume re-issues both in order; a multipath target without a path queues them.
        #expect(
            Self.lines(try machine.resume(noflush: false)) == [
                "preresume hooks A", "resume hooks A", "reissue deferred", "event resumed(noflush: false)",
                "persist device",
            ])
        let first = machine.takeDeferred()
        let batch = try #require(first)
        #expect(batch.bios == [1, 2] && batch.table == "A")
        #expect(machine.blockIO, "still blocking until a pass finds deferred empty")
        #expect(machine.takeDeferred() == nil)
        #expect(!machine.blockIO && machine.gateOpen == (machine.heldBytes == 0))
    }

    @Test("seed 4: without noflush a requeue fails with EIO and nothing is pushed back")
    func flushSuspendFails() throws {
        var machine = try Self.active()
        Self.queue(1, &machine)
        #expect(Self.lines(try machine.suspend(noflush: false, nolockfs: false)) == ["presuspend A"])
        #expect(Self.handBack(1, &machine) == .fail)
        #expect(machine.pushback.isEmpty && machine.heldBytes == 0)
        #expect(Self.lines(machine.presuspendDone(failurePoint: nil)) == ["wait for pending"])
        #expect(Self.lines(machine.pendingWaitEnded(drained: true, pendingNow: 0)) == ["postsuspend A"])
        #expect(Self.lines(machine.postsuspendDone()) == ["event suspended(noflush: false)", "persist device"])
        #expect(Self.lines(try machine.suspend(noflush: true, nolockfs: false)) == [], "already suspended: no-op")
    }

    @Test("seed 8: resume with noflush after a load suspends first, swaps, re-issues through the new table")
    func resumeAfterLoad() throws {
        var machine = try Self.active()
        Self.queue(1, &machine)
        #expect(Self.lines(try machine.load("B")) == ["event tableLoaded", "persist inactiveTable"])
        #expect(Self.lines(try machine.resume(noflush: true)) == ["suspend first"])
        #expect(Self.lines(try machine.suspend(noflush: true, nolockfs: false)) == ["presuspend A"])
        #expect(Self.handBack(1, &machine) == .pushedBack(order: 1))
        _ = machine.presuspendDone(failurePoint: nil)
        _ = machine.pendingWaitEnded(drained: true, pendingNow: 0)
        _ = machine.postsuspendDone()
        #expect(Self.lines(try machine.resume(noflush: true)) == ["swap"])
        #expect(
            Self.lines(try machine.swap(failurePoint: nil, noflush: true)) == [
                "destroy A", "event tableSwapped", "persist swappedTables", "preresume hooks B", "resume hooks B",
                "reissue deferred",
                "event resumed(noflush: true)", "persist device",
            ])
        let taken = machine.takeDeferred()
        let batch = try #require(taken)
        #expect(batch.bios == [1] && batch.table == "B")
    }

    @Test("seed 9: a failure after the noflush flag clears it and re-issues all that was pushed back")
    func failureAfterPresuspend() throws {
        var machine = try Self.active()
        Self.queue(1, &machine)
        Self.queue(2, &machine)
        _ = try machine.suspend(noflush: true, nolockfs: false)
        #expect(Self.handBack(1, &machine) == .pushedBack(order: 1))
        #expect(Self.handBack(2, &machine) == .pushedBack(order: 2))
        #expect(
            Self.lines(machine.presuspendDone(failurePoint: .ENOMEM)) == [
                "pushback [1, 2] to deferred from -2", "reissue deferred", "event suspend failed", "fail ENOMEM",
            ])
        #expect(machine.pushback.isEmpty && !machine.noflushSuspending && !machine.suspending && !machine.suspended)
        #expect(machine.takeDeferred()?.bios == [1, 2])
        #expect(machine.takeDeferred() == nil)
        #expect(!machine.blockIO)
        // The device is active: a later requeue fails.
        #expect(machine.requeue(3) == .fail)
    }

    @Test("seed 10: an interrupted noflush suspend re-issues what was pushed back; later requeues fail")
    func interruptedNoflushSuspend() throws {
        var machine = try Self.active()
        Self.queue(1, &machine)
        _ = try machine.suspend(noflush: true, nolockfs: false)
        #expect(Self.handBack(1, &machine) == .pushedBack(order: 1))
        #expect(Self.lines(machine.presuspendDone(failurePoint: nil)) == ["wait for pending"])
        #expect(machine.interruptSuspend() && machine.suspendInterrupted)
        #expect(
            Self.lines(machine.pendingWaitEnded(drained: false, pendingNow: 1)) == [
                "pushback [1] to deferred from -1", "reissue deferred", "event suspend interrupted", "fail EINTR",
            ])
        #expect(!machine.suspending && !machine.suspended && !machine.noflushSuspending)
        #expect(machine.requeue(2) == .fail, "a bio in flight that asks for requeue now ends with EIO")
        #expect(machine.takeDeferred()?.bios == [1])
        #expect(machine.takeDeferred() == nil)
        #expect(!machine.blockIO)
        let interruptedAgain = machine.interruptSuspend()
        #expect(!interruptedAgain, "no suspend to interrupt")
    }

    @Test("an interrupt that finds nothing pending after all lets the suspend finish")
    func interruptAfterDrain() throws {
        var machine = try Self.active()
        _ = try machine.suspend(noflush: false, nolockfs: true)
        _ = machine.presuspendDone(failurePoint: nil)
        let interrupted = machine.interruptSuspend()
        #expect(interrupted)
        #expect(Self.lines(machine.pendingWaitEnded(drained: false, pendingNow: 0)) == ["postsuspend A"])
        _ = machine.postsuspendDone()
        #expect(machine.suspended && machine.nolockfs)
    }

    @Test(
        "resume: active with nothing staged is a no-op; suspended without a live table is EINVAL; a failed swap holds")
    func resumeRules() throws {
        var active = try Self.active()
        #expect(Self.lines(try active.resume(noflush: false)) == [])

        var fresh = Machine()
        #expect(throws: MapperError(.EINVAL, "no live table to resume")) { try fresh.resume(noflush: false) }
        #expect(fresh.suspended && fresh.blockIO)

        var staged = try Self.active()
        _ = try staged.suspend(noflush: false, nolockfs: false)
        _ = staged.presuspendDone(failurePoint: nil)
        _ = staged.pendingWaitEnded(drained: true, pendingNow: 0)
        _ = staged.postsuspendDone()
        #expect(staged.deferBio(7) > 0)
        _ = try staged.load("B")
        #expect(Self.lines(try staged.resume(noflush: false)) == ["swap"])
        #expect(throws: MapperError.self) { try staged.swap(failurePoint: .EIO, noflush: false) }
        #expect(staged.suspended && staged.live == "A" && staged.inactive == "B" && staged.deferred == [7])
        #expect(Self.lines(staged.clear()) == ["destroy B", "event tableCleared", "persist inactiveTable"])
        #expect(Self.lines(staged.clear()) == [])
    }

    @Test("start-up: each persisted state comes back as it was")
    func restore() throws {
        var active = Machine()
        _ = active.deferBio(1)
        #expect(Self.lines(active.restored(live: "A", as: .active)) == ["preresume hooks A", "reissue deferred"])
        #expect(!active.suspended && active.takeDeferred()?.bios == [1])

        var suspended = Machine()
        #expect(Self.lines(suspended.restored(live: "A", as: .suspended)) == [])
        #expect(suspended.suspended && suspended.live == "A")

        // A noflush suspend under way ends as noflush suspend and resume would: with the hooks.
        var interrupted = Machine()
        #expect(
            Self.lines(interrupted.restored(live: "A", as: .noflushSuspending)) == [
                "preresume hooks A", "resume hooks A", "reissue deferred",
            ])

        // A live table that no longer builds: the device stays suspended, holding its bios.
        var lost = Machine()
        _ = lost.deferBio(1)
        #expect(Self.lines(lost.restored(live: nil, as: .active)) == [])
        #expect(lost.suspended && lost.deferred == [1])
    }

    @Test("remove: busy without force; with force held bios end with EIO and both tables go")
    func remove() throws {
        var machine = try Self.active()
        #expect(throws: MapperError.self) {
            try machine.remove(force: false, pending: 0, tableOpens: 1, externalOpens: 0)
        }
        #expect(throws: MapperError.self) {
            try machine.remove(force: true, pending: 0, tableOpens: 1, externalOpens: 0)
        }
        #expect(throws: MapperError.self) {
            try machine.remove(force: false, pending: 0, tableOpens: 0, externalOpens: 1)
        }
        #expect(throws: MapperError.self) {
            try machine.remove(force: false, pending: 2, tableOpens: 0, externalOpens: 0)
        }
        Self.queue(1, &machine)
        _ = try machine.load("B")
        _ = try machine.suspend(noflush: true, nolockfs: false)
        #expect(Self.handBack(1, &machine) == .pushedBack(order: 1))
        _ = machine.presuspendDone(failurePoint: nil)
        _ = machine.deferBio(2)
        #expect(throws: MapperError.self) {
            try machine.remove(force: false, pending: 0, tableOpens: 0, externalOpens: 0)
        }
        #expect(
            Self.lines(try machine.remove(force: true, pending: 3, tableOpens: 0, externalOpens: 1)) == [
                "keep alive until drained", "revoke external opens", "end [1] [2] EIO", "presuspend for removal A",
                "destroy A", "destroy B", "wake event waiters",
            ])
        #expect(machine.removed && !machine.gateOpen && machine.live == nil && machine.inactive == nil)
        #expect(throws: MapperError(.ENODEV, "removed")) { try machine.suspend(noflush: false, nolockfs: false) }
        #expect(throws: MapperError(.ENODEV, "removed")) { try machine.load("C") }
        #expect(machine.takeDeferred() == nil && machine.blockIO, "a removed device keeps blocking")

        var idle = try Self.active()
        #expect(
            Self.lines(try idle.remove(force: false, pending: 0, tableOpens: 0, externalOpens: 0)) == [
                "destroy A", "wake event waiters",
            ])
    }
}
