/// The mutable state of a ``MappedDevice``, guarded by its lock: the device's life
/// (``DeviceStateMachine``) and what belongs to the owner (names, waiters, counters).
struct DeviceState {
    typealias Machine = DeviceStateMachine<Bio, Table>

    var name: String
    var uuid: String?
    /// The fast path's gate and `pending` (see ``DeviceIOGate``), copied from the machine by
    /// ``apply(_:)`` and nowhere else.
    let gate: DeviceIOGate
    /// Flags, table slots and held lists; changed only through ``apply(_:)``.
    private(set) var machine = Machine()

    /// Original bios inside targets, not yet ended or pushed back (dm's `md->pending`): an
    /// atomic in the gate, so that the fast path counts without the lock.
    var pending: Int { gate.pendingCount }
    /// New bios refused with EAGAIN because of the queue limits.
    var refused = 0

    var eventNr: UInt32 = 0
    /// multipathd's `no_path_retry`, read by the device's multipath targets.
    var noPathRetry = NoPathRetry.queue
    var eventWaiters = WaiterList<UInt32>()

    /// The suspend waiting for `pending == 0`; resumed with `true` when drained, `false` when
    /// interrupted.
    var suspendWaiters = WaiterList<Bool>()
    /// A device removed (by force) with bios still pending holds itself here until the last
    /// of them ends: clones refer to their device without a reference count (``Clone``).
    var keepAliveWhileDraining: MappedDevice?

    init(name: String, uuid: String?, gate: DeviceIOGate) {
        self.name = name
        self.uuid = uuid
        self.gate = gate
    }

    var live: Table? { machine.live }
    var inactive: Table? { machine.inactive }
    var removed: Bool { machine.removed }
    var deferred: [Bio] { machine.deferred }
    var pushback: [Bio] { machine.pushback }

    /// Feeds the machine one input, then brings the fast path's gate up to date with it: the
    /// live table it reads, and whether it is open (``DeviceStateMachine/gateOpen``). The
    /// gate is written only when it changes; the caller holds the lock, the only writer.
    mutating func apply<Result, Failure: Error>(
        _ input: (inout Machine) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        defer {
            // Removal empties the slot but leaves the gate's table: bios in flight keep it.
            if let live = machine.live, gate.table !== live { gate.table = live }
            let open = machine.gateOpen
            if gate.open.load(ordering: .relaxed) != open { gate.open.store(open, ordering: .sequentiallyConsistent) }
        }
        return try input(&machine)
    }
}
