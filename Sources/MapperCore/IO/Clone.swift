/// The piece of an original bio that falls inside one target (dm's cloned bio plus its
/// `target_io`). The core creates clones when it splits a bio and hands each to its target's
/// `map`.
///
/// A clone is a view: the bio and the storage of its fields (``CloneStorage``: the bio itself
/// for its first clone). Copies of a clone are the same clone.
///
/// A target that keeps a clone (returns ``MapResult/submitted`` or ``EndIOResult/incomplete``)
/// must eventually either re-issue it with ``reissue()`` or end it with ``end(_:)``, and must
/// report its queue with ``enteredTargetQueue()`` / ``leftTargetQueue()`` so the journal and
/// the device's counters stay true. After ``end(_:)`` the target must not use the clone again:
/// its bio may be pushed back and split anew.
public struct Clone: @unchecked Sendable {
    /// The original bio. Kept alive by ``storage``: the bio itself, or an extra clone's
    /// storage, which holds its bio.
    public var bio: Bio { bioReference.takeUnretainedValue() }
    /// ``bio``, unmanaged so that the hot path can borrow it (``withBio(_:)``).
    let bioReference: Unmanaged<Bio>
    let storage: CloneStorage

    init(bio: Bio, storage: CloneStorage) {
        self.bioReference = Unmanaged.passUnretained(bio)
        self.storage = storage
    }

    /// Runs `body` with the bio, borrowed (no reference count written).
    @inline(__always)
    func withBio<R>(_ body: (Bio) -> R) -> R {
        bioReference._withUnsafeGuaranteedRef(body)
    }

    /// The device the clone belongs to. Not reference-counted: every submitter on every CPU
    /// would write the device's count, twice per bio. A device outlives its clones: while a
    /// bio is pending, the device is held by the manager or, once removed, by itself until
    /// its last bio ends (``MappedDevice`` `tearDown`).
    public var device: MappedDevice { storage.cloneDevice.unsafelyUnwrapped.takeUnretainedValue() }

    /// Runs `body` with the clone's device, borrowed (no reference count written).
    @inline(__always)
    func withDevice<R>(_ body: (MappedDevice) -> R) -> R {
        storage.cloneDevice.unsafelyUnwrapped._withUnsafeGuaranteedRef(body)
    }
    /// The target this clone belongs to. Not reference-counted, for the same reason: the
    /// table the bio was split through, which owns the target, lives until `pending` drains
    /// (``DeviceIOGate``, "The table").
    public var target: any Target { storage.cloneTarget.unsafelyUnwrapped.takeUnretainedValue().target }

    /// Runs `body` with the clone's target, borrowed (no reference count written).
    @inline(__always)
    func withTarget<R>(_ body: (any Target) -> R) -> R {
        storage.cloneTarget.unsafelyUnwrapped._withUnsafeGuaranteedRef { body($0.target) }
    }
    /// First sector of that target in the device.
    public var targetStart: UInt64 { storage.cloneTargetStart }
    /// Index of the target in its table.
    public var targetIndex: Int { storage.cloneTargetIndex }
    /// First sector, in the mapped device's address space.
    public var sector: UInt64 { storage.cloneSector }
    /// Length in sectors (0 for a flush clone).
    public var sectors: UInt64 { storage.cloneSectors }
    /// Byte offset of this clone's data inside the bio's buffer.
    public var bufferOffset: Int { storage.cloneBufferOffset }
    /// Per-target context for the map/end_io pair (dm's `map_info.ptr`), e.g. the chosen path.
    /// Only the owning target touches it. Not reference-counted: it must be an object the
    /// target itself keeps alive for as long as the clone lives (a path of its own), so that
    /// the hot path writes no shared reference count.
    public var mapContext: AnyObject? {
        get { storage.cloneMapContext }
        nonmutating set { storage.cloneMapContext = newValue }
    }

    /// Whether the core calls the target's `endIO` for this clone: the target type's
    /// ``Target/hasEndIO`` unless the target changed it for this clone in `map` (a thin pool
    /// asks for it only for the I/O it must count).
    var wantsEndIO: Bool {
        get { storage.cloneHasEndIO }
        nonmutating set { storage.cloneHasEndIO = newValue }
    }

    public var op: BioOp { bio.op }

    /// Sector offset of the clone from the start of its target (dm's `dm_target_offset`).
    public var targetOffset: UInt64 { sector - targetStart }

    /// Whether `other` is this clone.
    public func isSame(as other: Clone) -> Bool { storage === other.storage }

    /// Builds the request a target remaps this clone to; its completion runs the target's
    /// `endIO`.
    public func request(to sector: UInt64) -> BlockRequest {
        BlockRequest(
            op: bio.op, sector: sector, sectors: sectors, buffer: bio.buffer, bufferOffset: bufferOffset,
            clone: self)
    }

    /// Ends the clone with `outcome` without calling the target's `endIO` (dm's `dec_pending`
    /// from a target's own queue).
    public func end(_ outcome: CloneOutcome) {
        withDevice { $0.decPending(self, outcome) }
    }

    /// Maps the clone again through its target's `map` and carries out the result, as the core
    /// does on first submission (dm-mpath's `dispatch_queued_ios`).
    public func reissue() {
        withDevice { $0.issue(self) }
    }

    /// Reports that the target now holds this clone in its queue.
    public func enteredTargetQueue() { withDevice { $0.cloneQueued(self) } }

    /// Reports that the clone left the target's queue (dispatched, failed or pushed back).
    public func leftTargetQueue() { withDevice { $0.cloneDequeued(self) } }

    /// The block device the clone was remapped to finished: run the target's `endIO`.
    func endIO(_ error: Errno?) {
        withDevice { $0.cloneEndIO(self, error) }
    }
}
