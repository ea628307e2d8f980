/// The on-disk layout of a mirror's `disk` region log: what each region of the mirror is, as
/// of the last log commit. Pure: encodes and decodes blocks, does no I/O.
///
/// Layout, in 4 KiB blocks from the start of the log device:
/// - block 0, the header (little-endian): magic `MAPPERDL` (8 bytes), format version (4),
///   flags (4, zero), region size in sectors (8), region count (8), generation (8): the number
///   of the commit that wrote it. The rest of the block is zero.
/// - blocks 1..., the bitmap: bit `r % 8` of byte `r / 8` is 1 when region `r` may differ
///   between the mirrors (dirty, or not in sync), 0 when it is clean. Bits past the last
///   region are 0.
///
/// Why a torn commit is safe without a checksum: a commit writes whole blocks and each bit is
/// either its old or its new value. A bit set by the commit protects writes that are issued
/// only once the commit is durable; a bit cleared by it is cleared only for a region whose
/// mirrors were equal and flushed before the commit began. Either value is therefore true of
/// the mirrors if the commit dies half way. The header is checked field by field: a header
/// whose magic, version, region size or region count differs from the table's makes the log
/// new (every region out of sync), as dm's disk log treats a log it cannot read.
struct RegionLogFormat: Equatable, Sendable {
    static let blockBytes = 4096
    static let blockSectors = UInt64(blockBytes >> 9)
    /// "MAPPERDL" read as a little-endian integer.
    static let magic: UInt64 = 0x4C44_5245_5050_414D
    static let version: UInt32 = 1
    /// Regions per bitmap block.
    static let regionsPerBlock = blockBytes * 8

    let regionSize: UInt64
    let regionCount: Int

    /// Blocks of bitmap.
    var bitmapBlocks: Int { (regionCount + Self.regionsPerBlock - 1) / Self.regionsPerBlock }

    /// Sectors the log device must have.
    var sectors: UInt64 { UInt64(1 + bitmapBlocks) * Self.blockSectors }

    /// The first sector of bitmap block `index`.
    func sector(ofBitmapBlock index: Int) -> UInt64 { UInt64(1 + index) * Self.blockSectors }

    /// The bitmap block that holds region `region`'s bit.
    func bitmapBlock(of region: Int) -> Int { region / Self.regionsPerBlock }

    /// What a header block says.
    enum Header: Equatable, Sendable {
        /// A log of this table's geometry, written by commit `generation`.
        case valid(generation: UInt64)
        /// Not this table's log: every region starts out of sync.
        case new(reason: String)
    }

    /// The header block for commit `generation`.
    func header(generation: UInt64) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.blockBytes)
        Self.put(Self.magic, at: 0, in: &block)
        Self.put(UInt64(Self.version), at: 8, in: &block)
        Self.put(regionSize, at: 16, in: &block)
        Self.put(UInt64(regionCount), at: 24, in: &block)
        Self.put(generation, at: 32, in: &block)
        return block
    }

    /// Reads a header block against this table's geometry.
    func decodeHeader(_ block: [UInt8]) -> Header {
        guard block.count >= 40, Self.get(at: 0, in: block) == Self.magic else {
            return .new(reason: "no mirror log header")
        }
        let version = Self.get(at: 8, in: block)
        guard version == UInt64(Self.version) else { return .new(reason: "log format \(version), not \(Self.version)") }
        let size = Self.get(at: 16, in: block)
        let count = Self.get(at: 24, in: block)
        guard size == regionSize, count == UInt64(regionCount) else {
            return .new(reason: "log of \(count) regions of \(size) sectors, not \(regionCount) of \(regionSize)")
        }
        return .valid(generation: Self.get(at: 32, in: block))
    }

    /// Bitmap block `index` of `mayDiffer` (one flag per region).
    func bitmapBlock(_ index: Int, of mayDiffer: [Bool]) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.blockBytes)
        let first = index * Self.regionsPerBlock
        for region in first..<min(first + Self.regionsPerBlock, regionCount) where mayDiffer[region] {
            let bit = region - first
            block[bit >> 3] |= 1 << UInt8(bit & 7)
        }
        return block
    }

    /// The regions' flags from the bitmap blocks read back, in order.
    func regions(fromBitmap blocks: [UInt8]) -> [Bool] {
        (0..<regionCount).map { region in
            region >> 3 < blocks.count && blocks[region >> 3] & (1 << UInt8(region & 7)) != 0
        }
    }

    private static func put(_ value: UInt64, at offset: Int, in block: inout [UInt8]) {
        for index in 0..<8 { block[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    private static func get(at offset: Int, in block: [UInt8]) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(block[offset + $1]) << (8 * UInt64($1)) }
    }
}
