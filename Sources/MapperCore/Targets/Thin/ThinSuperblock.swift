/// A thin pool's superblock: where a commit's metadata starts. Two copies live in metadata
/// blocks 0 and 1; commit `g` writes slot `g % 2`, so a torn superblock write leaves the other
/// slot, the previous commit, intact (its blocks are not reused before this one is durable,
/// ``ThinSpaceMap``).
struct ThinSuperblock: Equatable, Sendable {
    /// The commit that wrote it (1 for the first).
    var generation: UInt64
    /// dm's transaction id (`set_transaction_id`).
    var transactionID: UInt64
    /// Metadata blocks the pool was formatted or last opened with.
    var metadataBlocks: UInt64
    /// Data block size in sectors.
    var dataBlockSectors: UInt64
    /// Data blocks of the pool at this commit.
    var dataBlocks: UInt64
    /// The first block of the device list (0: no devices).
    var deviceList: UInt64
    /// The first block of the held metadata snapshot's device list (0: none).
    var heldRoot: UInt64

    var slot: Int { Int(generation % 2) }
}
