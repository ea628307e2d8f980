/// The on-disk layout of a thin pool's metadata device. Pure: encodes and decodes blocks.
///
/// The device is cut in 4 KiB blocks. Every block starts with the same 32-byte header
/// (little-endian): CRC-32C of bytes 4..<4096 (4), kind (4), the block's own number (8), entry
/// count (4), reserved (4), next block of a chain (8; 0: none). A block whose checksum, kind or
/// number is wrong is refused, so a block written to the wrong place or half written is never
/// read as metadata.
///
/// - Blocks 0 and 1, kind `S`: the superblocks (``ThinSuperblock``); after the header, the
///   magic `mapperd-thin\0\0\0\0` (16), format version (4), reserved (4), then generation,
///   transaction id, metadata blocks, data block sectors, data blocks, device list, held root
///   (8 each).
/// - Kind `L` and `I`: leaf and internal nodes of the mapping trees (``ThinNode``), up to
///   ``maxEntries`` pairs of key and value (8 + 8) after the header.
/// - Kind `D`: the device list, a chain of blocks of up to ``devicesPerBlock`` entries of six
///   8-byte fields: id, root, mapped blocks, family, created in, snapshotted in.
///
/// dm keeps its reference counts in the metadata too (space-map B-trees); this format does
/// not: they follow from the trees, and the pool counts them when it opens (a walk of every
/// node, once) and `thin-check` recounts them. That keeps a commit to the blocks that changed.
enum ThinMetadataFormat {
    static let blockBytes = 4096
    static let blockSectors = UInt64(blockBytes >> 9)
    static let headerBytes = 32
    static let maxEntries = (blockBytes - headerBytes) / 16
    static let devicesPerBlock = (blockBytes - headerBytes) / 48
    static let version: UInt32 = 1
    static let magic: [UInt8] = Array("mapperd-thin".utf8) + [0, 0, 0, 0]

    enum Kind: UInt32, Sendable {
        case superblock = 0x53  // "S"
        case leaf = 0x4C  // "L"
        case `internal` = 0x49  // "I"
        case devices = 0x44  // "D"
    }

    /// Why a block could not be read as what was expected.
    struct Invalid: Error, Equatable, CustomStringConvertible {
        let block: UInt64
        let reason: String
        var description: String { "metadata block \(block): \(reason)" }
    }

    // MARK: Encoding

    static func encode(_ superblock: ThinSuperblock) -> [UInt8] {
        var block = header(kind: .superblock, number: UInt64(superblock.slot), count: 0, next: 0)
        block.replaceSubrange(32..<48, with: magic)
        put32(version, at: 48, in: &block)
        let fields = [
            superblock.generation, superblock.transactionID, superblock.metadataBlocks,
            superblock.dataBlockSectors, superblock.dataBlocks, superblock.deviceList, superblock.heldRoot,
        ]
        for (index, field) in fields.enumerated() { put64(field, at: 56 + index * 8, in: &block) }
        return seal(block)
    }

    static func encode(_ node: ThinNode, at number: UInt64) -> [UInt8] {
        var block = header(kind: node.isLeaf ? .leaf : .internal, number: number, count: node.count, next: 0)
        for index in 0..<node.count {
            put64(node.keys[index], at: headerBytes + index * 16, in: &block)
            put64(node.values[index], at: headerBytes + index * 16 + 8, in: &block)
        }
        return seal(block)
    }

    static func encode(devices: ArraySlice<ThinDevice>, at number: UInt64, next: UInt64) -> [UInt8] {
        var block = header(kind: .devices, number: number, count: devices.count, next: next)
        for (index, device) in devices.enumerated() {
            let fields = [
                device.id, device.root, device.mappedBlocks, device.family, device.createdIn, device.snapshottedIn,
            ]
            for (field, value) in fields.enumerated() {
                put64(value, at: headerBytes + index * 48 + field * 8, in: &block)
            }
        }
        return seal(block)
    }

    // MARK: Decoding

    /// A superblock slot: `nil` when the block is all zeroes (never written); throws when it
    /// is written but not a valid superblock.
    static func decodeSuperblock(_ block: [UInt8], slot: UInt64) throws -> ThinSuperblock? {
        if block.allSatisfy({ $0 == 0 }) { return nil }
        _ = try check(block, number: slot, kinds: [.superblock])
        guard Array(block[32..<48]) == magic else {
            throw Invalid(block: slot, reason: "not a mapperd thin superblock")
        }
        guard get32(at: 48, in: block) == version else {
            throw Invalid(block: slot, reason: "format version \(get32(at: 48, in: block)) is not \(version)")
        }
        let field = { (index: Int) in get64(at: 56 + index * 8, in: block) }
        let superblock = ThinSuperblock(
            generation: field(0), transactionID: field(1), metadataBlocks: field(2), dataBlockSectors: field(3),
            dataBlocks: field(4), deviceList: field(5), heldRoot: field(6))
        guard UInt64(superblock.slot) == slot else {
            throw Invalid(block: slot, reason: "generation \(superblock.generation) belongs in the other slot")
        }
        return superblock
    }

    static func decodeNode(_ block: [UInt8], number: UInt64) throws -> ThinNode {
        let kind = try check(block, number: number, kinds: [.leaf, .internal])
        let count = Int(get32(at: 16, in: block))
        guard count <= maxEntries else { throw Invalid(block: number, reason: "\(count) entries") }
        var node = ThinNode(isLeaf: kind == .leaf, keys: [], values: [])
        node.keys.reserveCapacity(count)
        node.values.reserveCapacity(count)
        for index in 0..<count {
            node.keys.append(get64(at: headerBytes + index * 16, in: block))
            node.values.append(get64(at: headerBytes + index * 16 + 8, in: block))
        }
        return node
    }

    /// A device-list block: its devices and the next block of the chain (0: the last).
    static func decodeDevices(_ block: [UInt8], number: UInt64) throws -> (devices: [ThinDevice], next: UInt64) {
        _ = try check(block, number: number, kinds: [.devices])
        let count = Int(get32(at: 16, in: block))
        guard count <= devicesPerBlock else { throw Invalid(block: number, reason: "\(count) devices") }
        let devices = (0..<count).map { index in
            let field = { (field: Int) in get64(at: headerBytes + index * 48 + field * 8, in: block) }
            return ThinDevice(
                id: field(0), root: field(1), mappedBlocks: field(2), family: field(3), createdIn: field(4),
                snapshottedIn: field(5))
        }
        return (devices, get64(at: 24, in: block))
    }

    // MARK: Private

    private static func header(kind: Kind, number: UInt64, count: Int, next: UInt64) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockBytes)
        put32(kind.rawValue, at: 4, in: &block)
        put64(number, at: 8, in: &block)
        put32(UInt32(count), at: 16, in: &block)
        put64(next, at: 24, in: &block)
        return block
    }

    private static func seal(_ block: [UInt8]) -> [UInt8] {
        var sealed = block
        let crc = block.withUnsafeBytes { ThinChecksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4...])) }
        put32(crc, at: 0, in: &sealed)
        return sealed
    }

    private static func check(_ block: [UInt8], number: UInt64, kinds: [Kind]) throws -> Kind {
        guard block.count == blockBytes else { throw Invalid(block: number, reason: "short read") }
        let crc = block.withUnsafeBytes { ThinChecksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4...])) }
        guard crc == get32(at: 0, in: block) else { throw Invalid(block: number, reason: "checksum mismatch") }
        guard let kind = Kind(rawValue: get32(at: 4, in: block)), kinds.contains(kind) else {
            throw Invalid(block: number, reason: "kind \(get32(at: 4, in: block)) where \(kinds) was expected")
        }
        guard get64(at: 8, in: block) == number else {
            throw Invalid(block: number, reason: "written as block \(get64(at: 8, in: block))")
        }
        return kind
    }

    private static func put32(_ value: UInt32, at offset: Int, in block: inout [UInt8]) {
        for index in 0..<4 { block[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    private static func put64(_ value: UInt64, at offset: Int, in block: inout [UInt8]) {
        for index in 0..<8 { block[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    private static func get32(at offset: Int, in block: [UInt8]) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(block[offset + $1]) << (8 * $1) }
    }

    private static func get64(at offset: Int, in block: [UInt8]) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(block[offset + $1]) << (8 * $1) }
    }
}
