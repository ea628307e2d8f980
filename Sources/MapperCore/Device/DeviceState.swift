/// The mutable state of a ``MappedDevice``, guarded by its lock (dm's `md->flags`, lists and
/// counters).
struct DeviceState {
    var name: String
    var uuid: String?
    var live: Table?
    var inactive: Table?

    /// dm's `DMF_BLOCK_IO`: new bios go to `deferred`.
    var blockIO = false
    /// dm's `DMF_NOFLUSH_SUSPENDING`.
    var noflushSuspending = false
    /// dm's `DMF_SUSPENDED`.
    var suspended = false
    /// A suspend is between its first and last step.
    var suspending = false
    /// Whether the last suspend was asked with nolockfs (recorded only; there is no filesystem).
    var nolockfs = false
    var removed = false

    /// Original bios inside targets, not yet ended or pushed back (dm's `md->pending`).
    var pending = 0
    /// Original bios with at least one clone in a target queue.
    var queuedBios = 0
    var deferred: [Bio] = []
    /// Bytes of the bios held in target queues, pushback and deferred (``QueueAdmission``).
    var heldBytes = 0
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

    /// Journal order keys: `deferred` grows at the tail; pushback moves to the head.
    var orderTail: Int64 = 0
    var orderHead: Int64 = 0

    init(name: String, uuid: String?) {
        self.name = name
        self.uuid = uuid
    }
}
