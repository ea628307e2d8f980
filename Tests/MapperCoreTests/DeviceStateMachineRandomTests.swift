import Testing

@testable import MapperCore

/// Random input sequences against ``DeviceStateMachine``, with a small owner that carries out
/// its actions the way ``MappedDevice`` does (step actions feed the next input; I/O inputs
/// interleave with the steps of a suspend) and a model of where every bio is. After every
/// input the invariants of SEMANTICS §4 must hold.
@Suite("Device state machine, random sequences")
struct DeviceStateMachineRandomTests {
    typealias Machine = DeviceStateMachine<Int, String>

    enum Place: Equatable {
        case inflight
        case targetQueue
        case pushback
        case deferred
        case ended
    }

    /// A seeded generator (SplitMix64), so that a failure names the seed that reproduces it.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The owner: the machine, the bios' places, and the control steps still to carry out.
    struct Owner {
        var machine = Machine()
        var places: [Int: Place] = [:]
        var steps: [Machine.Action] = []
        var nextBio = 1
        var nextTable = 0
        var random: Generator
        var log: [String] = []

        /// Bytes the owner counts as held, one unit per held bio (``MappedDevice/countHeld``).
        var held: Int { places.values.filter { $0 == .targetQueue || $0 == .pushback || $0 == .deferred }.count }

        mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

        mutating func newTable() -> String {
            nextTable += 1
            return "T\(nextTable)"
        }

        mutating func bios(in place: Place) -> [Int] { places.filter { $0.value == place }.map(\.key).sorted() }

        mutating func move(_ bio: Int, to place: Place) {
            let wasHeld = [.targetQueue, .pushback, .deferred].contains(places[bio])
            let isHeld = [.targetQueue, .pushback, .deferred].contains(place)
            places[bio] = place
            if wasHeld != isHeld { machine.held(bytes: isHeld ? 1 : -1) }
        }

        /// A target asks to requeue an in-flight bio.
        mutating func requeue(_ bio: Int) {
            switch machine.requeue(bio) {
            case .pushedBack: move(bio, to: .pushback)
            case .fail: move(bio, to: .ended)
            }
        }

        /// One random I/O input.
        mutating func ioInput() {
            let inflight = bios(in: .inflight)
            let queued = bios(in: .targetQueue)
            switch Int.random(in: 0..<6, using: &random) {
            case 0, 1:
                let bio = nextBio
                nextBio += 1
                log.append("submit \(bio)")
                if machine.blockIO {
                    _ = machine.deferBio(bio)
                    places[bio] = .inflight
                    move(bio, to: .deferred)
                } else if machine.live == nil {
                    places[bio] = .ended
                } else {
                    places[bio] = .inflight
                }
            case 2 where !inflight.isEmpty:
                let bio = inflight.randomElement(using: &random)!
                log.append("complete \(bio)")
                move(bio, to: .ended)
            case 3 where !inflight.isEmpty:
                let bio = inflight.randomElement(using: &random)!
                log.append("queue \(bio)")
                _ = machine.bioQueued(firstClone: true)
                move(bio, to: .targetQueue)
            case 4 where !queued.isEmpty:
                let bio = queued.randomElement(using: &random)!
                log.append("dispatch \(bio)")
                machine.bioDequeued()
                move(bio, to: .inflight)
            case 5 where !inflight.isEmpty:
                let bio = inflight.randomElement(using: &random)!
                log.append("requeue \(bio)")
                requeue(bio)
            default:
                break
            }
        }

        /// One random control input, when no operation is under way.
        mutating func controlInput() {
            do {
                switch Int.random(in: 0..<8, using: &random) {
                case 0:
                    let table = newTable()
                    log.append("load \(table)")
                    steps = try took(machine.load(table))
                case 1:
                    log.append("clear")
                    steps = took(machine.clear())
                case 2, 3:
                    let noflush = chance(70)
                    log.append("suspend noflush=\(noflush)")
                    steps = try took(machine.suspend(noflush: noflush, nolockfs: false))
                case 4, 5:
                    log.append("resume")
                    steps = try took(machine.resume(noflush: chance(50)))
                case 6 where chance(5):
                    let force = chance(50)
                    log.append("remove force=\(force)")
                    let pending = bios(in: .inflight).count + bios(in: .targetQueue).count
                    steps = try took(machine.remove(force: force, pending: pending, tableOpens: 0, externalOpens: 0))
                default:
                    ioInput()
                }
            } catch {
                log.append("refused: \(error)")
            }
        }

        /// Carries out the next control step; false when it must wait (pending not drained).
        mutating func step() -> Bool {
            let action = steps.removeFirst()
            var next: [Machine.Action] = []
            switch action {
            case .presuspend(let table):
                // A multipath target hands its queue back (or fails it) in presuspend.
                if table != nil {
                    for bio in bios(in: .targetQueue) {
                        machine.bioDequeued()
                        move(bio, to: .inflight)
                        requeue(bio)
                    }
                }
                next = machine.presuspendDone(failurePoint: chance(10) ? .ENOMEM : nil)
            case .waitForPending:
                let pending = bios(in: .inflight).count + bios(in: .targetQueue).count
                if pending == 0 {
                    next = machine.pendingWaitEnded(drained: true, pendingNow: 0)
                } else if machine.suspendInterrupted || chance(20) {
                    _ = machine.interruptSuspend()
                    next = machine.pendingWaitEnded(drained: false, pendingNow: pending)
                } else {
                    steps.insert(action, at: 0)
                    return false
                }
            case .postsuspend:
                next = machine.postsuspendDone()
            case .suspendFirst:
                do {
                    next = try machine.suspend(noflush: true, nolockfs: false)
                    next.append(.swap)
                } catch {
                    Issue.record("suspend first refused: \(error)")
                }
            case .swap:
                if machine.suspended {
                    do {
                        next = try machine.swap(failurePoint: chance(10) ? .EIO : nil, noflush: true)
                    } catch {
                        log.append("swap failed")
                    }
                } else {
                    // The suspend before the swap failed: the resume failed with it.
                    log.append("no swap: not suspended")
                }
            case .reissueDeferred:
                while let batch = machine.takeDeferred() {
                    for bio in batch.bios { move(bio, to: batch.table == nil ? .ended : .inflight) }
                }
            case .presuspendForRemoval:
                for bio in bios(in: .targetQueue) {
                    machine.bioDequeued()
                    move(bio, to: .inflight)
                    requeue(bio)
                }
            case .fail:
                // A failed step ends the operation: nothing after it.
                steps.removeAll()
            default:
                break
            }
            steps.insert(contentsOf: took(next), at: 0)
            return true
        }

        /// The lists the machine changed with an input are changed from then on: the model
        /// follows them at once (the owner journals them after the lock).
        mutating func took(_ actions: [Machine.Action]) -> [Machine.Action] {
            for action in actions {
                switch action {
                case .movedToDeferred(let bios, _):
                    for bio in bios {
                        #expect(
                            places[bio] == .pushback, "\(bio) moved to deferred from \(String(describing: places[bio]))"
                        )
                        places[bio] = .deferred
                    }
                case .endHeld(let pushback, let deferred, _):
                    for bio in pushback { #expect(places[bio] == .pushback) }
                    for bio in deferred { #expect(places[bio] == .deferred) }
                    for bio in pushback + deferred { move(bio, to: .ended) }
                default:
                    break
                }
            }
            return actions
        }

        /// SEMANTICS §4's invariants, checked after every input.
        func check(_ seed: UInt64, _ index: Int) {
            let context = Comment(rawValue: "seed \(seed) step \(index): \(log.suffix(8))")
            func why(_ rule: String) -> Comment { Comment(rawValue: "\(rule); \(context.rawValue)") }
            let deferred = places.filter { $0.value == .deferred }.map(\.key).sorted()
            let pushback = places.filter { $0.value == .pushback }.map(\.key).sorted()
            #expect(machine.deferred.sorted() == deferred, context)
            #expect(machine.pushback.sorted() == pushback, context)
            #expect(Set(machine.deferred).isDisjoint(with: machine.pushback), context)
            #expect(Set(machine.deferred).count == machine.deferred.count, context)
            #expect(machine.queuedBios == places.values.filter { $0 == .targetQueue }.count, context)
            #expect(machine.heldBytes == held, context)
            #expect(machine.pushback.isEmpty || machine.noflushSuspending, why("pushback outside a noflush suspend"))
            #expect(!machine.suspended || machine.blockIO, why("suspended without blocking I/O"))
            #expect(!machine.suspended || !machine.suspending, context)
            if machine.gateOpen {
                #expect(
                    !machine.suspended && !machine.noflushSuspending && !machine.removed && machine.live != nil
                        && machine.heldBytes == 0 && machine.deferred.isEmpty,
                    why("the gate is open only when active, not noflush-suspending and holding nothing"))
            }
        }
    }

    @Test("random inputs keep every bio in exactly one place and the gate honest", arguments: 0..<40)
    func randomSequences(seed: UInt64) {
        var owner = Owner(random: Generator(state: seed))
        for index in 0..<400 {
            if owner.steps.isEmpty {
                if owner.chance(60) { owner.controlInput() } else { owner.ioInput() }
            } else if owner.chance(50) {
                // A wait that cannot end yet leaves the step in place; I/O goes on meanwhile.
                _ = owner.step()
            } else {
                owner.ioInput()
            }
            owner.check(seed, index)
            if owner.machine.removed { break }
        }
    }
}
