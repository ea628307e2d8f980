import MapperCore
import Synchronization

/// A test-only target (`test` in tables, no arguments) that holds every clone it is given
/// until the test ends it with ok, an error or requeue. It records the hooks the core calls.
///
/// Tests wait for clones with ``waitForHeld(_:)``, never with sleeps.
public final class ControlledTarget: Target {
    private struct State {
        var held: [Clone] = []
        var hooks: [String] = []
        var waiters = WaiterList<Void>()
        var conditions: [UInt64: @Sendable (State) -> Bool] = [:]
        var requeueOnPresuspend = false
        var destroyed = false
    }

    private let state = Mutex(State())
    /// The target's start sector.
    public let start: UInt64

    init(start: UInt64) { self.start = start }

    public func map(_ clone: Clone) -> MapResult {
        clone.enteredTargetQueue()
        update { $0.held.append(clone) }
        return .submitted
    }

    /// Changes the state and wakes the waiters whose condition now holds.
    private func update(_ change: (inout State) -> Void) {
        let ready = state.withLock { state -> [WaiterList<Void>.Continuation] in
            change(&state)
            let snapshot = state
            let met = Set(state.conditions.filter { $0.value(snapshot) }.keys)
            for id in met { state.conditions[id] = nil }
            return state.waiters.take { met.contains($0) }
        }
        ready.resumeAll(returning: ())
    }

    private func waitUntil(_ condition: @escaping @Sendable (State) -> Bool) async {
        _ = await WaiterList<Void>.wait(
            deadline: nil,
            register: { continuation in
                state.withLock { state -> WaiterList<Void>.Registration in
                    if condition(state) { return .ready(()) }
                    let registration = state.waiters.add(continuation)
                    if case .waiting(let id) = registration { state.conditions[id] = condition }
                    return registration
                }
            },
            take: { [self] id in
                self.state.withLock { state in
                    state.conditions[id] = nil
                    return state.waiters.remove(id)
                }
            })
    }

    /// Waits until the core has called `hook` (`presuspend`, `postsuspend`, `resume`) `count` times.
    public func waitForHook(_ hook: String, count: Int = 1) async {
        await waitUntil { state in state.hooks.filter { $0 == hook }.count >= count }
    }

    /// Clones currently held, oldest first.
    public var held: [Clone] { state.withLock { $0.held } }

    /// Hooks called so far (`presuspend`, `postsuspend`, `resume`, `destroy`).
    public var hooks: [String] { state.withLock { $0.hooks } }

    /// When set, presuspend ends every held clone with requeue (as multipath does with
    /// `queue_if_no_path` during a noflush suspend).
    public func setRequeueOnPresuspend(_ value: Bool) {
        state.withLock { $0.requeueOnPresuspend = value }
    }

    /// Waits until at least `count` clones are held.
    public func waitForHeld(_ count: Int) async {
        await waitUntil { state in state.held.count >= count }
    }

    /// Ends the oldest held clone (or the one at `index`) with `outcome`.
    public func end(_ outcome: CloneOutcome, at index: Int = 0) {
        let clone = state.withLock { $0.held.remove(at: index) }
        clone.leftTargetQueue()
        clone.end(outcome)
    }

    /// Ends every held clone with `outcome`.
    public func endAll(_ outcome: CloneOutcome) {
        let clones = state.withLock { state -> [Clone] in
            defer { state.held = [] }
            return state.held
        }
        for clone in clones {
            clone.leftTargetQueue()
            clone.end(outcome)
        }
    }

    public func presuspend() {
        if state.withLock({ $0.requeueOnPresuspend }) { endAll(.requeue) }
        update { $0.hooks.append("presuspend") }
    }

    public func postsuspend() { update { $0.hooks.append("postsuspend") } }
    public func resume() { update { $0.hooks.append("resume") } }
    public func table() -> String { "" }
    public func status() -> String { "held \(held.count)" }

    public func message(_ argv: [String]) throws -> String {
        guard argv == ["ping"] else { throw MapperError(.EINVAL, "unknown message '\(argv.joined(separator: " "))'") }
        return "pong"
    }

    public func destroy() {
        update { state in
            state.hooks.append("destroy")
            state.destroyed = true
        }
        endAll(.error(.EIO))
    }
}

/// Registers the `test` target type and keeps every instance it constructs.
public final class ControlledTargets: Sendable {
    private let instances = Mutex<[ControlledTarget]>([])

    public init() {}

    /// The type to register in an engine's ``TargetRegistry``.
    public var type: TargetType {
        TargetType(name: "test", version: (0, 0, 1)) { [self] context in
            guard context.args.isEmpty else { throw MapperError(.EINVAL, "test takes no arguments") }
            let target = ControlledTarget(start: context.start)
            self.instances.withLock { $0.append(target) }
            return target
        }
    }

    /// Every instance constructed, oldest first.
    public var all: [ControlledTarget] { instances.withLock { $0 } }

    /// The newest instance whose start is `start`.
    public func instance(at start: UInt64) -> ControlledTarget? {
        all.last { $0.start == start }
    }
}
