/// The piece of an original bio that falls inside one target (dm's cloned bio plus its
/// `target_io`). The core creates clones when it splits a bio and hands each to its target's
/// `map`.
///
/// A target that keeps a clone (returns ``MapResult/submitted`` or ``EndIOResult/incomplete``)
/// must eventually either re-issue it with ``reissue()`` or end it with ``end(_:)``, and must
/// report its queue with ``enteredTargetQueue()`` / ``leftTargetQueue()`` so the journal and
/// the device's counters stay true.
public final class Clone: BlockIOCompletion, @unchecked Sendable {
    public let bio: Bio
    /// The device the clone belongs to. Not reference-counted: every submitter on every CPU
    /// would write the device's count, twice per bio. A device outlives its clones: while a
    /// bio is pending, the device is held by the manager or, once removed, by itself until
    /// its last bio ends (``MappedDevice`` `tearDown`).
    public unowned(unsafe) let device: MappedDevice
    /// The target this clone belongs to. Not reference-counted, for the same reason: the
    /// table the bio was split through, which owns the target, lives until `pending` drains
    /// (``DeviceIOGate``, "The table").
    public unowned(unsafe) let target: any Target
    /// First sector of that target in the device.
    public let targetStart: UInt64
    /// Index of the target in ``table``.
    public let targetIndex: Int
    /// First sector, in the mapped device's address space.
    public let sector: UInt64
    /// Length in sectors (0 for a flush clone).
    public let sectors: UInt64
    /// Byte offset of this clone's data inside the bio's buffer.
    public let bufferOffset: Int
    /// Per-target context for the map/end_io pair (dm's `map_info.ptr`), e.g. the chosen path.
    /// Only the owning target touches it. Not reference-counted: it must be an object the
    /// target itself keeps alive for as long as the clone lives (a path of its own), so that
    /// the hot path writes no shared reference count.
    public unowned(unsafe) var mapContext: AnyObject?

    init(
        bio: Bio, device: MappedDevice, target: any Target, targetIndex: Int, targetStart: UInt64, sector: UInt64,
        sectors: UInt64
    ) {
        self.bio = bio
        self.device = device
        self.target = target
        self.targetStart = targetStart
        self.targetIndex = targetIndex
        self.sector = sector
        self.sectors = sectors
        self.bufferOffset = bio.bufferOffset + Int(sector &- bio.sector) << 9
    }

    public var op: BioOp { bio.op }

    /// Sector offset of the clone from the start of its target (dm's `dm_target_offset`).
    public var targetOffset: UInt64 { sector - targetStart }

    /// Builds the request a target remaps this clone to.
    public func request(to sector: UInt64) -> BlockRequest {
        BlockRequest(
            op: bio.op, sector: sector, sectors: sectors, buffer: bio.buffer,
            bufferOffset: bufferOffset, completion: self)
    }

    /// Ends the clone with `outcome` without calling the target's `endIO` (dm's `dec_pending`
    /// from a target's own queue).
    public func end(_ outcome: CloneOutcome) {
        device.cloneEnded(self, outcome)
    }

    /// Maps the clone again through its target's `map` and carries out the result, as the core
    /// does on first submission (dm-mpath's `dispatch_queued_ios`).
    public func reissue() {
        device.issue(self)
    }

    /// Reports that the target now holds this clone in its queue.
    public func enteredTargetQueue() { device.cloneQueued(self) }

    /// Reports that the clone left the target's queue (dispatched, failed or pushed back).
    public func leftTargetQueue() { device.cloneDequeued(self) }

    /// The block device the clone was remapped to finished: run the target's `endIO`.
    public func blockIOCompleted(_ error: Errno?) {
        device.cloneIOCompleted(self, error)
    }
}
