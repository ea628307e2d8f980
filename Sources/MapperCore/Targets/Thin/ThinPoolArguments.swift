/// A `thin-pool` table line's arguments, in dm-thin's syntax:
/// `<metadata_dev> <data_dev> <data_block_size> <low_water_mark> [<#features> <feature>...]`,
/// features `skip_block_zeroing`, `ignore_discard`, `no_discard_passdown`, `read_only` and
/// `error_if_no_space`. The block size is in sectors, a multiple of 128 (64 KiB) up to 2097152
/// (1 GiB); the low water mark is in data blocks. The pool's length is its data: the data
/// device must hold it, and the pool has `length / data_block_size` data blocks.
struct ThinPoolArguments: Sendable {
    let metadataDevice: any BlockNode
    let dataDevice: any BlockNode
    let dataBlockSectors: UInt64
    let lowWaterMark: UInt64
    let skipBlockZeroing: Bool
    let ignoreDiscard: Bool
    let noDiscardPassdown: Bool
    let readOnly: Bool
    let errorIfNoSpace: Bool
    let dataBlocks: Int
    /// The data device, when it can tell which of its sectors read as zeros (looked up once:
    /// a provisioning write asks it whether its new block needs zeroing).
    let dataAllocation: (any AllocationReporting)?

    static let features = [
        "skip_block_zeroing", "ignore_discard", "no_discard_passdown", "read_only", "error_if_no_space",
    ]

    init(context: TargetContext) throws {
        // The pool's data blocks count from the start of its device, where thin lines find it.
        guard context.start == 0 else { throw MapperError(.EINVAL, "a thin-pool line must start at sector 0") }
        var reader = ArgReader(context.args)
        let metadataName = try reader.next("metadata device")
        let dataName = try reader.next("data device")
        dataBlockSectors = try reader.number("data block size", in: 128...2_097_152)
        guard dataBlockSectors % 128 == 0 else {
            throw MapperError(.EINVAL, "data block size \(dataBlockSectors) is not a multiple of 128 sectors")
        }
        lowWaterMark = try reader.number("low water mark")
        var features: Set<String> = []
        if reader.remaining > 0 {
            let count = try reader.int("number of features", in: 0...Self.features.count)
            for _ in 0..<count {
                let feature = try reader.next("feature")
                guard Self.features.contains(feature) else {
                    throw MapperError(.EINVAL, "unknown thin-pool feature '\(feature)'")
                }
                features.insert(feature)
            }
        }
        try reader.finish()
        skipBlockZeroing = features.contains("skip_block_zeroing")
        ignoreDiscard = features.contains("ignore_discard")
        noDiscardPassdown = features.contains("no_discard_passdown")
        readOnly = features.contains("read_only")
        errorIfNoSpace = features.contains("error_if_no_space")
        let blocks = context.length / dataBlockSectors
        guard blocks > 0 else {
            throw MapperError(.EINVAL, "a pool of \(context.length) sectors holds no \(dataBlockSectors)-sector block")
        }
        guard blocks <= UInt64(Int32.max) else {
            throw MapperError(.EINVAL, "\(blocks) data blocks: use a larger block size")
        }
        dataBlocks = Int(blocks)
        guard let metadataNode = context.lookUp(metadataName) else {
            throw MapperError(.EINVAL, "no block device named '\(metadataName)'")
        }
        let metadataSectors =
            metadataNode.sizeSectors / ThinMetadataFormat.blockSectors * ThinMetadataFormat.blockSectors
        guard metadataSectors >= 16 * ThinMetadataFormat.blockSectors else {
            throw MapperError(.EINVAL, "metadata device '\(metadataName)' is smaller than 64 KiB")
        }
        metadataDevice = try context.getDevice(metadataName, offset: 0, length: metadataSectors)
        dataDevice = try context.getDevice(dataName, offset: 0, length: context.length)
        dataAllocation = dataDevice as? any AllocationReporting
        if metadataDevice === dataDevice {
            throw MapperError(.EINVAL, "the metadata and data devices must differ")
        }
    }

    /// Metadata blocks of the metadata device (dm uses at most 16 GiB of it).
    var metadataBlocks: Int {
        Int(min(metadataDevice.sizeSectors / ThinMetadataFormat.blockSectors, 4 << 20))
    }

    /// The features as dm prints them: their count, then each in dm's order.
    var featureText: String {
        let set = [skipBlockZeroing, ignoreDiscard, noDiscardPassdown, readOnly, errorIfNoSpace]
        let names = zip(Self.features, set).filter(\.1).map(\.0)
        return ([String(names.count)] + names).joined(separator: " ")
    }
}
