/// A thin pool's metadata as of now: the mapping tree of every thin device, the device list,
/// and the reference counts of metadata and data blocks. Pure and in memory (every node the
/// trees reach is held decoded here, as dm's block manager caches them); ``ThinPool`` owns it
/// behind its lock and carries out its commits.
///
/// **Copy on write, as dm's persistent-data.** A committed node is never changed: a change
/// *shadows* the path from the root (``shadow(_:)``), copying each node that the last commit
/// may reference or that another tree shares, and changes the copies. A node allocated in this
/// transaction with one reference is changed in place. A snapshot shares its origin's root
/// (one reference count more, O(1)); the first write below a shared node copies it and gives
/// its children one reference more, so sharing is broken lazily, one path at a time.
///
/// **Sharing.** A data block is shared when its own count is above 1 or a node on the path to
/// it is shared (``lookup(device:block:)``): a write to it must copy it first.
///
/// **Commits.** ``prepareCommit()`` returns every block to write: the nodes of this
/// transaction, a new device list, and the superblock for the other slot. The caller writes
/// the blocks, flushes, writes the superblock, flushes, then calls ``commitEnded(durable:)``.
/// Blocks the previous commit referenced are not reused until then (``ThinSpaceMap``).
struct ThinMetadata: Sendable {
    let maxEntries: Int
    let dataBlockSectors: UInt64
    /// Every node the trees reach, by block (changed only by this type and its extensions).
    var nodes: [UInt64: ThinNode] = [:]
    var meta: ThinSpaceMap
    var data: ThinSpaceMap
    private(set) var devices: [UInt64: ThinDevice] = [:]
    private(set) var transactionID: UInt64 = 0
    /// The generation of the last commit prepared (0: none yet).
    private(set) var generation: UInt64 = 0
    /// Anything changed since the last commit was prepared.
    private(set) var changed = false
    /// The blocks of the device list the last commit wrote.
    private var deviceListBlocks: [UInt64] = []
    /// The metadata snapshot (`reserve_metadata_snap`): a copy of the device list whose trees
    /// stay readable as they were, and the blocks its list was written to (empty: not yet).
    private(set) var held: (devices: [ThinDevice], blocks: [UInt64])?

    /// dm's thin ids are 24 bits.
    static let maxDeviceID: UInt64 = (1 << 24) - 1

    /// Empty metadata (dm formats a device whose superblock is all zeroes).
    init(
        metadataBlocks: Int, dataBlocks: Int, dataBlockSectors: UInt64, maxEntries: Int = ThinMetadataFormat.maxEntries
    ) {
        self.maxEntries = maxEntries
        self.dataBlockSectors = dataBlockSectors
        meta = ThinSpaceMap(count: metadataBlocks)
        data = ThinSpaceMap(count: dataBlocks)
        meta.increment(0)
        meta.increment(1)
        changed = true
    }

    /// Metadata as a commit left it (``ThinMetadataLoader``): the counts are the references
    /// the loader found.
    init(
        superblock: ThinSuperblock, metadataBlocks: Int, dataBlocks: Int, maxEntries: Int, nodes: [UInt64: ThinNode],
        meta: ThinSpaceMap, data: ThinSpaceMap, devices: [ThinDevice], deviceListBlocks: [UInt64],
        held: (devices: [ThinDevice], blocks: [UInt64])?
    ) {
        self.maxEntries = maxEntries
        self.dataBlockSectors = superblock.dataBlockSectors
        self.nodes = nodes
        self.meta = meta
        self.data = data
        self.devices = Dictionary(uniqueKeysWithValues: devices.map { ($0.id, $0) })
        self.deviceListBlocks = deviceListBlocks
        self.held = held
        transactionID = superblock.transactionID
        generation = superblock.generation
        changed = UInt64(dataBlocks) != superblock.dataBlocks || UInt64(metadataBlocks) != superblock.metadataBlocks
    }

    // MARK: Reading

    /// What a lookup found: the data block, and whether another device or the metadata
    /// snapshot shares it.
    struct Mapping: Equatable, Sendable {
        var dataBlock: UInt64
        var shared: Bool
    }

    /// The data block that `block` of `device` maps to, or `nil` when it is unmapped.
    func lookup(device id: UInt64, block: UInt64) -> Mapping? {
        guard let device = devices[id], device.root != 0 else { return nil }
        var current = device.root
        var shared = meta[Int(current)] > 1
        while let node = nodes[current] {
            if node.isLeaf {
                let index = node.lowerBound(block)
                guard index < node.count, node.keys[index] == block else { return nil }
                let dataBlock = node.values[index]
                return Mapping(dataBlock: dataBlock, shared: shared || data[Int(dataBlock)] > 1)
            }
            current = node.values[node.childIndex(block)]
            shared = shared || meta[Int(current)] > 1
        }
        return nil
    }

    /// The highest block `device` maps, or `nil` when it maps none.
    func highestMapped(device id: UInt64) -> UInt64? {
        guard let device = devices[id], device.root != 0 else { return nil }
        var current = device.root
        while let node = nodes[current], let last = node.values.last {
            if node.isLeaf { return node.keys.last }
            current = last
        }
        return nil
    }

    /// The mapped blocks of `device` from `first` on, in order, at most `limit` of them
    /// (allocation reports).
    func mappedBlocks(device id: UInt64, from first: UInt64, limit: Int) -> [UInt64] {
        guard let device = devices[id], device.root != 0 else { return [] }
        var found: [UInt64] = []
        collect(device.root, from: first, limit: limit, into: &found)
        return found
    }

    private func collect(_ block: UInt64, from first: UInt64, limit: Int, into found: inout [UInt64]) {
        guard let node = nodes[block] else { return }
        if node.isLeaf {
            for key in node.keys[node.lowerBound(first)...] {
                guard found.count < limit else { return }
                found.append(key)
            }
            return
        }
        for index in node.childIndex(first)..<node.count where found.count < limit {
            collect(node.values[index], from: first, limit: limit, into: &found)
        }
    }

    /// Metadata blocks free now (the metadata reserve counts as used).
    var freeMetadataBlocks: Int { max(meta.free - metadataReserve, 0) }

    /// Blocks kept back for a commit's device lists, so that a commit never runs out.
    var metadataReserve: Int {
        2 + (devices.count + ThinMetadataFormat.devicesPerBlock - 1) / ThinMetadataFormat.devicesPerBlock * 2
            + (held.map {
                ($0.devices.count + ThinMetadataFormat.devicesPerBlock - 1) / ThinMetadataFormat.devicesPerBlock
            } ?? 0)
    }

    // MARK: Data blocks

    /// A free data block, fresh and counted once (the mapping that will own it); `nil` when the
    /// data device is full.
    mutating func allocateDataBlock() -> UInt64? {
        guard let block = data.allocate() else { return nil }
        changed = true
        return UInt64(block)
    }

    /// Gives back a block from ``allocateDataBlock()`` that was never mapped (its write failed).
    mutating func releaseDataBlock(_ block: UInt64) {
        data.decrement(Int(block))
    }

    /// The data device grew (a pool reloaded with a longer table).
    mutating func growData(to blocks: Int) {
        guard blocks > data.count else { return }
        data.grow(to: blocks)
        changed = true
    }

    // MARK: Mapping

    /// Maps `block` of `device` to `dataBlock` (from ``allocateDataBlock()``, whose reference
    /// the mapping takes over). Returns the data block it mapped before, if any, and whether
    /// that one is now unreferenced. Throws ENOSPC when the metadata is full.
    mutating func insert(device id: UInt64, block: UInt64, dataBlock: UInt64) throws -> (old: UInt64, freed: Bool)? {
        guard var device = devices[id] else { throw MapperError(.ENODEV, "no thin device \(id)") }
        let (root, old) = try insert(root: device.root, key: block, value: dataBlock)
        device.root = root
        changed = true
        guard let old else {
            device.mappedBlocks += 1
            devices[id] = device
            return nil
        }
        devices[id] = device
        return (old, data.decrement(Int(old)))
    }

    /// Unmaps `block` of `device`. Returns the data block it mapped and whether that one is now
    /// unreferenced; `nil` when it was not mapped.
    mutating func remove(device id: UInt64, block: UInt64) throws -> (old: UInt64, freed: Bool)? {
        guard var device = devices[id], lookup(device: id, block: block) != nil else { return nil }
        let (root, old) = try remove(root: device.root, key: block)
        device.root = root
        device.mappedBlocks -= 1
        devices[id] = device
        changed = true
        return (old, data.decrement(Int(old)))
    }

    // MARK: Devices (the pool's messages)

    /// `create_thin <id>`.
    mutating func createThin(_ id: UInt64) throws {
        try checkNew(id)
        devices[id] = ThinDevice(
            id: id, root: 0, mappedBlocks: 0, family: id, createdIn: generation + 1, snapshottedIn: 0)
        changed = true
    }

    /// `create_snap <id> <origin>`: shares the origin's root (O(1)).
    mutating func createSnapshot(_ id: UInt64, of originID: UInt64) throws {
        try checkNew(id)
        guard var origin = devices[originID] else { throw MapperError(.ENODEV, "no thin device \(originID)") }
        guard meta.free > metadataReserve + 1 else { throw MapperError(.ENOSPC, "metadata device is full") }
        if origin.root != 0 { meta.increment(Int(origin.root)) }
        origin.snapshottedIn = generation + 1
        devices[originID] = origin
        devices[id] = ThinDevice(
            id: id, root: origin.root, mappedBlocks: origin.mappedBlocks, family: origin.family,
            createdIn: generation + 1, snapshottedIn: 0)
        changed = true
    }

    /// `delete <id>`: drops the device's tree; returns the data blocks no longer referenced.
    @discardableResult
    mutating func delete(_ id: UInt64) throws -> [UInt64] {
        guard let device = devices.removeValue(forKey: id) else { throw MapperError(.ENODEV, "no thin device \(id)") }
        var freed: [UInt64] = []
        if device.root != 0 { drop(device.root, freedData: &freed) }
        changed = true
        return freed
    }

    /// `set_transaction_id <old> <new>`.
    mutating func setTransactionID(old: UInt64, new: UInt64) throws {
        guard old == transactionID else {
            throw MapperError(.EINVAL, "transaction id is \(transactionID), not \(old)")
        }
        transactionID = new
        changed = true
    }

    /// `reserve_metadata_snap`: keeps the trees of every device, as they are now, readable
    /// from the superblock's held root until released. Written by the next commit.
    mutating func reserveMetadataSnapshot() throws {
        guard held == nil else { throw MapperError(.EBUSY, "a metadata snapshot is already reserved") }
        let list = devices.values.sorted { $0.id < $1.id }
        guard meta.free > metadataReserve + list.count / ThinMetadataFormat.devicesPerBlock + 1 else {
            throw MapperError(.ENOSPC, "metadata device is full")
        }
        for device in list where device.root != 0 { meta.increment(Int(device.root)) }
        held = (list, [])
        changed = true
    }

    /// `release_metadata_snap`.
    mutating func releaseMetadataSnapshot() throws {
        guard let snapshot = held else { throw MapperError(.EINVAL, "no metadata snapshot is reserved") }
        var freed: [UInt64] = []
        for device in snapshot.devices where device.root != 0 { drop(device.root, freedData: &freed) }
        for block in snapshot.blocks { meta.decrement(Int(block)) }
        held = nil
        changed = true
    }

    /// The held root as the pool's status prints it (`nil`: none, or not yet written).
    var heldRoot: UInt64? { held?.blocks.first }

    private func checkNew(_ id: UInt64) throws {
        guard id <= Self.maxDeviceID else { throw MapperError(.EINVAL, "thin id \(id) is above \(Self.maxDeviceID)") }
        guard devices[id] == nil else { throw MapperError(.EEXIST, "thin device \(id) exists") }
    }

    // MARK: Commit

    /// The blocks a commit writes: `blocks` first (then a flush), then `superblock` in its slot.
    struct Commit: Sendable {
        var blocks: [(block: UInt64, bytes: [UInt8])]
        var superblock: ThinSuperblock
        var superblockBytes: [UInt8]
    }

    /// Ends the current transaction: returns what to write for it. Until
    /// ``commitEnded(durable:)``, blocks released before it stay unused.
    mutating func prepareCommit() throws -> Commit {
        var blocks: [(block: UInt64, bytes: [UInt8])] = []
        if generation == 0 {
            // The first commit also writes slot 0 as an empty pool (generation 0), so that a
            // crash that tears its superblock leaves a pool that is empty, not unreadable.
            let empty = ThinSuperblock(
                generation: 0, transactionID: 0, metadataBlocks: UInt64(meta.count), dataBlockSectors: dataBlockSectors,
                dataBlocks: UInt64(data.count), deviceList: 0, heldRoot: 0)
            blocks.append((0, ThinMetadataFormat.encode(empty)))
        }
        for block in deviceListBlocks { meta.decrement(Int(block)) }
        let list = devices.values.sorted { $0.id < $1.id }
        deviceListBlocks = try writeChain(list, into: &blocks)
        if var snapshot = held, snapshot.blocks.isEmpty {
            snapshot.blocks = try writeChain(snapshot.devices, into: &blocks)
            held = snapshot
        }
        for block in meta.freshBlocks.sorted() {
            guard let node = nodes[UInt64(block)] else { continue }
            blocks.append((UInt64(block), ThinMetadataFormat.encode(node, at: UInt64(block))))
        }
        generation += 1
        let superblock = ThinSuperblock(
            generation: generation, transactionID: transactionID, metadataBlocks: UInt64(meta.count),
            dataBlockSectors: dataBlockSectors, dataBlocks: UInt64(data.count),
            deviceList: deviceListBlocks.first ?? 0, heldRoot: held?.blocks.first ?? 0)
        meta.beginCommit()
        data.beginCommit()
        changed = false
        return Commit(blocks: blocks, superblock: superblock, superblockBytes: ThinMetadataFormat.encode(superblock))
    }

    /// The commit from the last ``prepareCommit()`` is durable (or failed: then the blocks it
    /// released stay unused until the pool is opened again).
    mutating func commitEnded(durable: Bool) {
        meta.commitEnded(durable)
        data.commitEnded(durable)
    }

    private mutating func writeChain(
        _ list: [ThinDevice], into blocks: inout [(block: UInt64, bytes: [UInt8])]
    ) throws -> [UInt64] {
        let perBlock = ThinMetadataFormat.devicesPerBlock
        let count = (list.count + perBlock - 1) / perBlock
        var numbers: [UInt64] = []
        for _ in 0..<count {
            guard let block = meta.allocate() else { throw MapperError(.ENOSPC, "metadata device is full") }
            numbers.append(UInt64(block))
        }
        for (index, number) in numbers.enumerated() {
            let slice = list[(index * perBlock)..<min(list.count, (index + 1) * perBlock)]
            let next = index + 1 < numbers.count ? numbers[index + 1] : 0
            blocks.append((number, ThinMetadataFormat.encode(devices: slice, at: number, next: next)))
        }
        return numbers
    }
}
