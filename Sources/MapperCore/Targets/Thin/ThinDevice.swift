/// What the pool's metadata keeps for one thin device (dm's `disk_device_details` plus the
/// root of its mapping tree).
struct ThinDevice: Equatable, Sendable {
    /// The device's id (`create_thin <id>`), 0 to 2^24 - 1 as dm allows.
    var id: UInt64
    /// The root of its mapping tree; 0 when it maps nothing (block 0 is never a node).
    var root: UInt64
    /// Blocks it maps.
    var mappedBlocks: UInt64
    /// The id of the device its line of snapshots started from (itself for a `create_thin`).
    /// Two devices of different families never share a data block; `thin-check` checks it.
    var family: UInt64
    /// The transaction (commit generation) it was created in.
    var createdIn: UInt64
    /// The transaction it was last snapshotted in (0: never).
    var snapshottedIn: UInt64
}
