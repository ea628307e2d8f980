import Logging
import Synchronization

/// A mapped device (dm's `struct mapped_device`): a name, two table slots, the suspend
/// machinery and the I/O lists of SEMANTICS §3–§4.
///
/// All flags, lists and counters live in one `Mutex`; the I/O hot path takes it once on
/// submission and once per clone completion. Control operations (suspend, resume, remove) are
/// serialised by an async lock, as dm serialises them with `suspend_lock`. Targets' hooks, map
/// and end_io always run outside the state lock.
public final class MappedDevice: BlockNode {
    public let readOnly: Bool
    public let holders = Holders()
    public var kind: BlockNodeKind { .device }
    let engine: EngineServices
    let state: Mutex<DeviceState>
    /// `pending` and the fast path's gate (``DeviceIOGate``).
    let io: DeviceIOGate
    let control = AsyncMutex()
    /// Bios ended, bytes, time and latency per op (lock-free; for metrics).
    public let statistics = IOStatistics()
    var logger: Logger { engine.logger }

    init(name: String, uuid: String?, readOnly: Bool, engine: EngineServices) {
        self.readOnly = readOnly
        self.engine = engine
        let io = DeviceIOGate()
        self.io = io
        self.state = Mutex(DeviceState(name: name, uuid: uuid, gate: io))
    }

    /// The current name.
    public var name: String { state.withLock { $0.name } }
    public var uuid: String? { state.withLock { $0.uuid } }
    /// Size of the live table (0 without one).
    public var sizeSectors: UInt64 { state.withLock { $0.live?.sizeSectors ?? 0 } }
    public var eventNr: UInt32 { state.withLock { $0.eventNr } }
    /// dm's `dm_noflush_suspending`.
    public var isNoflushSuspending: Bool { state.withLock { $0.machine.noflushSuspending } }
    public var isSuspended: Bool { state.withLock { $0.machine.suspended } }
    /// dm's `DMF_BLOCK_IO`: new bios are deferred.
    public var isBlockingIO: Bool { state.withLock { $0.machine.blockIO } }
    /// The live table, if any.
    public var liveTable: Table? { state.withLock { $0.live } }
    /// The staged (inactive) table, if any.
    public var inactiveTable: Table? { state.withLock { $0.inactive } }
    /// Bios in `deferred`, in order (for inspection).
    public var deferredBios: [Bio] { state.withLock { $0.deferred } }
    /// Bios in `pushback`, in order (for inspection).
    public var pushbackBios: [Bio] { state.withLock { $0.pushback } }

    /// A snapshot with the API's Device fields.
    public var info: DeviceInfo {
        let openCount = holders.openCount
        return state.withLock { state in
            DeviceInfo(
                name: state.name, uuid: state.uuid, suspended: state.machine.suspended,
                suspending: state.machine.suspending, readOnly: readOnly,
                sizeSectors: state.live?.sizeSectors ?? 0, eventNr: state.eventNr,
                openCount: openCount, targetCount: state.live?.targets.count ?? 0,
                hasLiveTable: state.live != nil, hasInactiveTable: state.inactive != nil,
                io: DeviceInfo.IOCounts(
                    inFlight: state.pending - state.machine.queuedBios, queued: state.machine.queuedBios,
                    pushback: state.pushback.count, deferred: state.deferred.count, heldBytes: state.machine.heldBytes,
                    refused: state.refused),
                noPathRetry: state.noPathRetry)
        }
    }

    /// multipathd's `no_path_retry` for this device's multipath targets.
    public var noPathRetry: NoPathRetry { state.withLock { $0.noPathRetry } }

    /// Sets `no_path_retry`, persists it, and applies it to the live table's multipath
    /// targets at once (or at resume, while suspended).
    public func setNoPathRetry(_ policy: NoPathRetry) async throws {
        state.withLock { $0.noPathRetry = policy }
        engine.events.append(kind: .devicePolicy, device: name, detail: "noPathRetry \(policy)")
        applyNoPathRetry()
        try await engine.store.record(.deviceChanged(info))
    }

    /// Applies `no_path_retry` to the live table's multipath targets (after a change, and
    /// after start-up recovery, where paths come back without telling their targets).
    public func applyNoPathRetry() {
        for case let target as MultipathTarget in liveTable?.targets.map(\.target) ?? [] {
            target.applyNoPathRetry()
        }
    }

    /// Restores a persisted `no_path_retry` without applying it (start-up, before the table).
    public func restoreNoPathRetry(_ policy: NoPathRetry) {
        state.withLock { $0.noPathRetry = policy }
    }

    /// Whether `device` is reachable from this device's tables (live or inactive), directly
    /// or through stacked devices: loading a reference to this device into `device` would
    /// make a cycle.
    func references(_ device: MappedDevice) -> Bool {
        var seen = Set<ObjectIdentifier>()
        var stack: [MappedDevice] = [self]
        while let next = stack.popLast() {
            guard seen.insert(ObjectIdentifier(next)).inserted else { continue }
            let tables = next.state.withLock { [$0.live, $0.inactive] }
            for table in tables.compactMap({ $0 }) {
                for case let child as MappedDevice in table.referencedNodes {
                    if child === device { return true }
                    stack.append(child)
                }
            }
        }
        return false
    }

    /// Persists the live targets' run-time state.
    func persistTargetStates() {
        guard let live = liveTable else { return }
        var states: [Int: [String: String]] = [:]
        for (index, instance) in live.targets.enumerated() {
            if let state = instance.target.persistentState { states[index] = state }
        }
        guard !states.isEmpty else { return }
        persist(.targetStates(device: name, states: states))
    }

    /// Feeds the device's state machine one input under the state lock (``DeviceState/apply(_:)``)
    /// and returns its actions for the caller to carry out after the lock.
    func update<Result: Sendable>(_ input: (inout DeviceState.Machine) -> Result) -> Result {
        state.withLock { $0.apply(input) }
    }

    /// ``update(_:)`` for an input that can refuse: its errors name the device.
    func update<Result: Sendable>(refusable input: (inout DeviceState.Machine) throws -> Result) throws -> Result {
        try state.withLock { state in
            do {
                return try state.apply(input)
            } catch let error as MapperError {
                throw MapperError(error.errno, "device '\(state.name)': \(error.message)")
            }
        }
    }

    /// Queues a state change for the store without waiting, logging (not throwing) a
    /// failure: used where the in-memory operation cannot be undone, and from paths that must
    /// not wait (events raised by I/O). Operations that promise durability await
    /// `engine.store.committed()` before they return.
    func persist(_ change: StateChange) {
        let logger = self.logger
        let name = self.name
        engine.store.enqueue(change) { error in
            if let error {
                logger.error("state not persisted", metadata: ["device": "\(name)", "error": "\(error)"])
            }
        }
    }
}
