/// The fields of one clone (dm's `dm_target_io`), which ``Clone`` gives targets a view of.
///
/// A ``Bio`` is one: its first clone lives in the bio's own allocation, as dm embeds the
/// first `dm_target_io` in its `dm_io`, so a bio that falls inside one target allocates
/// once. Further clones of a bio (pieces in other targets, a flush to several) get a storage
/// object each.
///
/// Contract: the core writes the fields in `split`, before the clone is handed to its
/// target, and does not touch them again until the bio is split anew (after it was pushed
/// back or deferred, when every earlier clone has ended: a target must not use a clone after
/// ending it). Only the owning target writes ``mapContext``. Nothing here is public:
/// targets see a clone through ``Clone``.
public class CloneStorage: @unchecked Sendable {
    /// See ``Clone/device``. Unmanaged: the core calls the device through a borrowed
    /// reference (`_withUnsafeGuaranteedRef`), which writes no reference count.
    var cloneDevice: Unmanaged<MappedDevice>?
    /// See ``Clone/target``: the table's slot for it, borrowed (``TargetSlot``).
    var cloneTarget: Unmanaged<TargetSlot>?
    /// The target's ``Target/hasEndIO``.
    var cloneHasEndIO = true
    var cloneTargetStart: UInt64 = 0
    var cloneTargetIndex = 0
    var cloneSector: UInt64 = 0
    var cloneSectors: UInt64 = 0
    var cloneBufferOffset = 0
    /// See ``Clone/mapContext``.
    unowned(unsafe) var cloneMapContext: AnyObject?
    /// The bio an extra clone belongs to, held so that the clone keeps it alive (`nil` for a
    /// bio's own first clone: the storage is the bio).
    var cloneOwner: Bio?

    init() {}

    /// Sets the fields for a new clone of `bio`.
    @inline(__always)
    final func prepare(
        bio: Bio, device: MappedDevice, target: TargetSlot, hasEndIO: Bool, targetIndex: Int, targetStart: UInt64,
        sector: UInt64, sectors: UInt64
    ) {
        cloneDevice = Unmanaged.passUnretained(device)
        cloneTarget = Unmanaged.passUnretained(target)
        cloneHasEndIO = hasEndIO
        cloneTargetIndex = targetIndex
        cloneTargetStart = targetStart
        cloneSector = sector
        cloneSectors = sectors
        cloneBufferOffset = bio.bufferOffset + Int(sector &- bio.sector) << 9
        cloneMapContext = nil
    }
}
