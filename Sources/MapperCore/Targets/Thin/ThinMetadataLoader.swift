/// Opens a thin pool's metadata: a pure state machine that asks for blocks (``Step/read(_:)``)
/// and is given them, so that the pool can read them from its metadata device without a
/// blocked thread and `mapperd thin-check` from a file.
///
/// It reads both superblock slots and takes the valid one of the highest generation (the other
/// is the commit before, kept whole by the space maps' rule), then the device lists, then every
/// node of every tree breadth first, each block once however many trees share it. It counts
/// the references it meets: those are the space maps' counts (``ThinMetadataFormat``).
///
/// It refuses metadata whose blocks are not what their parents say (checksum, kind, number),
/// whose keys are out of order or outside their parent's range, whose values point outside
/// the devices, or whose devices' mapped-block counts differ from their trees. With
/// `checking` (`thin-check`) it also refuses a data block mapped at two different blocks, and
/// one shared between devices that no snapshot relates.
struct ThinMetadataLoader: Sendable {
    enum Step: Sendable {
        /// Read these blocks and call ``received(_:)`` with them.
        case read([UInt64])
        case loaded(ThinMetadata)
        /// Not usable metadata, with the reason.
        case failed(String)
    }

    let metadataBlocks: Int
    /// The table's geometry; `nil`: the superblock's (`thin-check`, which has no table).
    let dataBlocks: Int?
    let dataBlockSectors: UInt64?
    let maxEntries: Int
    let checking: Bool

    private enum Phase {
        case superblocks, lists, nodes
    }

    private var phase = Phase.superblocks
    private var superblock = ThinSuperblock(
        generation: 0, transactionID: 0, metadataBlocks: 0, dataBlockSectors: 0, dataBlocks: 0, deviceList: 0,
        heldRoot: 0)
    private var devices: [ThinDevice] = []
    private var deviceListBlocks: [UInt64] = []
    private var heldDevices: [ThinDevice] = []
    private var heldBlocks: [UInt64] = []
    private var nextList: UInt64 = 0
    private var nextHeld: UInt64 = 0
    private var nodes: [UInt64: ThinNode] = [:]
    private var meta: ThinSpaceMap
    private var data: ThinSpaceMap
    /// Key ranges (`low..<high`) each node's parents allow it, checked once it is read.
    private var ranges: [UInt64: [(low: UInt64, high: UInt64?)]] = [:]
    /// The family of every node (`checking`), and of every data block with its key.
    private var nodeFamily: [UInt64: UInt64] = [:]
    private var dataOwner: [UInt64: (key: UInt64, family: UInt64)] = [:]
    private var frontier: [UInt64] = []

    init(
        metadataBlocks: Int, dataBlocks: Int?, dataBlockSectors: UInt64?,
        maxEntries: Int = ThinMetadataFormat.maxEntries, checking: Bool = false
    ) {
        self.metadataBlocks = metadataBlocks
        self.dataBlocks = dataBlocks
        self.dataBlockSectors = dataBlockSectors
        self.maxEntries = maxEntries
        self.checking = checking
        meta = ThinSpaceMap(count: metadataBlocks)
        data = ThinSpaceMap(count: 0)
    }

    func start() -> Step { .read([0, 1]) }

    /// The blocks asked for by the last step, by number.
    mutating func received(_ blocks: [UInt64: [UInt8]]) -> Step {
        do {
            switch phase {
            case .superblocks: return try superblocks(blocks)
            case .lists: return try lists(blocks)
            case .nodes: return try nodeLevel(blocks)
            }
        } catch let invalid as ThinMetadataFormat.Invalid {
            return .failed(invalid.description)
        } catch {
            return .failed("\(error)")
        }
    }

    // MARK: Phases

    private mutating func superblocks(_ blocks: [UInt64: [UInt8]]) throws -> Step {
        var found: [ThinSuperblock] = []
        var problems: [String] = []
        var written = 0
        for slot in [UInt64(0), 1] {
            guard let bytes = blocks[slot] else { return .failed("superblock \(slot) was not read") }
            do {
                if let superblock = try ThinMetadataFormat.decodeSuperblock(bytes, slot: slot) {
                    found.append(superblock)
                }
                written += bytes.allSatisfy { $0 == 0 } ? 0 : 1
            } catch {
                written += 1
                problems.append("\(error)")
            }
        }
        guard let newest = found.max(by: { $0.generation < $1.generation }) else {
            if written == 0, let dataBlocks, let dataBlockSectors {
                return .loaded(
                    ThinMetadata(
                        metadataBlocks: metadataBlocks, dataBlocks: dataBlocks, dataBlockSectors: dataBlockSectors,
                        maxEntries: maxEntries))
            }
            if written == 0 { return .failed("the metadata device is empty (never formatted)") }
            return .failed("not a thin pool's metadata (\(problems.joined(separator: "; ")))")
        }
        let dataBlockSectors = self.dataBlockSectors ?? newest.dataBlockSectors
        let dataBlocks = self.dataBlocks ?? Int(clamping: newest.dataBlocks)
        guard newest.dataBlockSectors == dataBlockSectors else {
            return .failed(
                "the metadata's data block size is \(newest.dataBlockSectors) sectors, the table's \(dataBlockSectors)")
        }
        guard newest.dataBlocks <= UInt64(dataBlocks) else {
            return .failed("the data device has \(dataBlocks) blocks, fewer than the metadata's \(newest.dataBlocks)")
        }
        guard newest.metadataBlocks <= UInt64(metadataBlocks) else {
            return .failed(
                "the metadata device has \(metadataBlocks) blocks, fewer than the \(newest.metadataBlocks) it was formatted with"
            )
        }
        superblock = newest
        data = ThinSpaceMap(count: dataBlocks)
        meta.increment(0)
        meta.increment(1)
        phase = .lists
        nextList = newest.deviceList
        nextHeld = newest.heldRoot
        return try askForLists()
    }

    private mutating func askForLists() throws -> Step {
        let wanted = [nextList, nextHeld].filter { $0 != 0 }
        guard wanted.isEmpty else {
            for block in wanted { try checkMetadataBlock(block) }
            return .read(wanted)
        }
        phase = .nodes
        for device in devices where device.root != 0 {
            reference(device.root, low: 0, high: nil, family: device.family)
        }
        for device in heldDevices where device.root != 0 {
            reference(device.root, low: 0, high: nil, family: device.family)
        }
        return try nextLevel()
    }

    private mutating func lists(_ blocks: [UInt64: [UInt8]]) throws -> Step {
        if nextList != 0 {
            let (found, next) = try ThinMetadataFormat.decodeDevices(try block(nextList, in: blocks), number: nextList)
            deviceListBlocks.append(nextList)
            devices += found
            nextList = try chained(next, after: deviceListBlocks + heldBlocks)
        }
        if nextHeld != 0 {
            let (found, next) = try ThinMetadataFormat.decodeDevices(try block(nextHeld, in: blocks), number: nextHeld)
            heldBlocks.append(nextHeld)
            heldDevices += found
            nextHeld = try chained(next, after: deviceListBlocks + heldBlocks)
        }
        return try askForLists()
    }

    private func chained(_ next: UInt64, after seen: [UInt64]) throws -> UInt64 {
        if next != 0 && seen.contains(next) {
            throw ThinMetadataFormat.Invalid(block: next, reason: "device list loops")
        }
        return next
    }

    private mutating func nodeLevel(_ blocks: [UInt64: [UInt8]]) throws -> Step {
        for number in frontier {
            let node = try ThinMetadataFormat.decodeNode(try block(number, in: blocks), number: number)
            nodes[number] = node
            try checkOrder(node, number: number)
            for range in ranges.removeValue(forKey: number) ?? [] { try checkRange(node, number: number, range) }
            let family = nodeFamily[number] ?? 0
            for index in 0..<node.count {
                let value = node.values[index]
                if node.isLeaf {
                    try mapData(value, key: node.keys[index], family: family, node: number)
                } else {
                    let high = index + 1 < node.count ? node.keys[index + 1] : nil
                    try checkMetadataBlock(value)
                    reference(value, low: node.keys[index], high: high, family: family)
                }
            }
        }
        frontier = []
        return try nextLevel()
    }

    private mutating func nextLevel() throws -> Step {
        // References to nodes read already are checked now; the rest are read next.
        var wanted: [UInt64] = []
        for (number, pending) in ranges {
            if let node = nodes[number] {
                for range in pending { try checkRange(node, number: number, range) }
            } else {
                wanted.append(number)
            }
        }
        for number in wanted { try checkMetadataBlock(number) }
        ranges = ranges.filter { nodes[$0.key] == nil }
        guard wanted.isEmpty else {
            frontier = wanted.sorted()
            return .read(frontier)
        }
        return try finish()
    }

    private mutating func finish() throws -> Step {
        for block in deviceListBlocks + heldBlocks { meta.increment(Int(block)) }
        var counted: [UInt64: UInt64] = [:]
        for device in devices {
            let found = device.root == 0 ? 0 : try mapped(device.root, memo: &counted)
            guard found == device.mappedBlocks else {
                return .failed(
                    "thin device \(device.id) says it maps \(device.mappedBlocks) blocks; its tree maps \(found)")
            }
        }
        let held = heldBlocks.isEmpty ? nil : (devices: heldDevices, blocks: heldBlocks)
        return .loaded(
            ThinMetadata(
                superblock: superblock, metadataBlocks: metadataBlocks, dataBlocks: data.count, maxEntries: maxEntries,
                nodes: nodes, meta: meta, data: data, devices: devices, deviceListBlocks: deviceListBlocks, held: held))
    }

    // MARK: Checks

    private mutating func reference(_ block: UInt64, low: UInt64, high: UInt64?, family: UInt64) {
        meta.increment(Int(block))
        ranges[block, default: []].append((low, high))
        if checking {
            if let known = nodeFamily[block], known != family {
                nodeFamily[block] = .max
            } else {
                nodeFamily[block] = family
            }
        }
    }

    private mutating func mapData(_ value: UInt64, key: UInt64, family: UInt64, node: UInt64) throws {
        guard value < superblock.dataBlocks else {
            throw ThinMetadataFormat.Invalid(
                block: node,
                reason: "maps block \(key) to data block \(value), past the \(superblock.dataBlocks) blocks")
        }
        data.increment(Int(value))
        guard checking else { return }
        if family == .max {
            throw ThinMetadataFormat.Invalid(block: node, reason: "shared by devices that no snapshot relates")
        }
        if let owner = dataOwner[value] {
            if owner.key != key {
                throw ThinMetadataFormat.Invalid(
                    block: node, reason: "data block \(value) is mapped at blocks \(owner.key) and \(key)")
            }
            if owner.family != family {
                throw ThinMetadataFormat.Invalid(
                    block: node,
                    reason:
                        "data block \(value) is mapped by thin devices \(owner.family) and \(family), which no snapshot relates"
                )
            }
        } else {
            dataOwner[value] = (key, family)
        }
    }

    private func checkMetadataBlock(_ block: UInt64) throws {
        guard block >= 2, block < UInt64(metadataBlocks) else {
            throw ThinMetadataFormat.Invalid(
                block: block, reason: "outside the metadata device's \(metadataBlocks) blocks")
        }
    }

    private func checkOrder(_ node: ThinNode, number: UInt64) throws {
        guard node.count > 0 else { throw ThinMetadataFormat.Invalid(block: number, reason: "empty node") }
        for index in 1..<max(node.count, 1) where node.keys[index - 1] >= node.keys[index] {
            throw ThinMetadataFormat.Invalid(block: number, reason: "keys out of order at entry \(index)")
        }
    }

    private func checkRange(_ node: ThinNode, number: UInt64, _ range: (low: UInt64, high: UInt64?)) throws {
        guard let first = node.keys.first, let last = node.keys.last else { return }
        if first < range.low || range.high.map({ last >= $0 }) == true {
            throw ThinMetadataFormat.Invalid(
                block: number, reason: "keys \(first)...\(last) outside their parent's range from \(range.low)")
        }
    }

    private func block(_ number: UInt64, in blocks: [UInt64: [UInt8]]) throws -> [UInt8] {
        guard let bytes = blocks[number] else {
            throw ThinMetadataFormat.Invalid(block: number, reason: "was not read")
        }
        return bytes
    }

    private func mapped(_ block: UInt64, memo: inout [UInt64: UInt64]) throws -> UInt64 {
        if let known = memo[block] { return known }
        guard let node = nodes[block] else { throw ThinMetadataFormat.Invalid(block: block, reason: "was not read") }
        var total: UInt64 = 0
        if node.isLeaf {
            total = UInt64(node.count)
        } else {
            for child in node.values { total += try mapped(child, memo: &memo) }
        }
        memo[block] = total
        return total
    }
}
