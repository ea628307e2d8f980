/// The mutable state of a ``MappedDevice``, guarded by its lock (dm's `md->flags`, lists and
/// counters).
struct DeviceState {
    var name: String
    var uuid: String?
    /// The fast path's gate and `pending` (see ``DeviceIOGate``): every field it depends on
    /// refreshes it when set.
    let gate: DeviceIOGate
    var live: Table? {
        didSet {
            if let live { gate.table = live }
            refreshGate()
        }
    }
    var inactive: Table?

    /// dm's `DMF_BLOCK_IO`: new bios go to `deferred`.
    var blockIO = false { didSet { refreshGate() } }
    /// dm's `DMF_NOFLUSH_SUSPENDING`.
    var noflushSuspending = false { didSet { refreshGate() } }
    /// dm's `DMF_SUSPENDED`.
    var suspended = false
    /// A suspend is between its first and last step.
    var suspending = false
    /// Whether the last suspend was asked with nolockfs (recorded only; there is no filesystem).
    var nolockfs = false
    var removed = false { didSet { refreshGate() } }

    /// Original bios inside targets, not yet ended or pushed back (dm's `md->pending`): an
    /// atomic in the gate, so that the fast path counts without the lock.
    var pending: Int { gate.pendingCount }
    /// Original bios with at least one clone in a target queue.
    var queuedBios = 0
    var deferred: [Bio] = []
    /// Bytes of the bios held in target queues, pushback and deferred (``QueueAdmission``).
    var heldBytes = 0 {
        didSet { if (oldValue == 0) != (heldBytes == 0) { refreshGate() } }
    }
    /// New bios refused with EAGAIN because of the queue limits.
    var refused = 0
    var pushback: [Bio] = []

    var eventNr: UInt32 = 0
    /// multipathd's `no_path_retry`, read by the device's multipath targets.
    var noPathRetry = NoPathRetry.queue
    var eventWaiters = WaiterList<UInt32>()

    /// The suspend waiting for `pending == 0`; resumed with `true` when drained, `false` when
    /// interrupted.
    var suspendWaiters = WaiterList<Bool>()
    /// An interrupt arrived (timeout or cancel) for the current suspend.
    var suspendInterrupted = false
    /// A device removed (by force) with bios still pending holds itself here until the last
    /// of them ends: clones refer to their device without a reference count (``Clone``).
    var keepAliveWhileDraining: MappedDevice?

    /// Journal order keys: `deferred` grows at the tail; pushback moves to the head.
    var orderTail: Int64 = 0
    var orderHead: Int64 = 0

    init(name: String, uuid: String?, gate: DeviceIOGate) {
        self.name = name
        self.uuid = uuid
        self.gate = gate
    }

    /// Opens the gate exactly when a bio may skip the lock (``DeviceIOGate``).
    private func refreshGate() {
        gate.open.store(
            live != nil && !blockIO && !noflushSuspending && heldBytes == 0 && !removed,
            ordering: .sequentiallyConsistent)
    }
}
