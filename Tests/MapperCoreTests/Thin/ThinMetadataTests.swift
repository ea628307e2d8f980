import Testing

@testable import MapperCore

/// The thin pool's metadata without I/O: copy-on-write trees, O(1) snapshots, commits that a
/// torn write or a crash cannot break, and the loader's checks (what `thin-check` runs).
@Suite("thin metadata")
struct ThinMetadataTests {
    struct LoadFailure: Error { let reason: String }

    /// Blocks as a metadata device holds them.
    struct Disk {
        var blocks: [UInt64: [UInt8]] = [:]

        /// Writes a commit whole, or without its superblock (a crash before it).
        mutating func apply(_ commit: ThinMetadata.Commit, superblock: Bool = true) {
            for (block, bytes) in commit.blocks { blocks[block] = bytes }
            if superblock { blocks[UInt64(commit.superblock.slot)] = commit.superblockBytes }
        }

        func load(
            metadataBlocks: Int = 64, dataBlocks: Int? = 256, dataBlockSectors: UInt64? = 128, maxEntries: Int = 4,
            checking: Bool = true
        ) -> Result<ThinMetadata, LoadFailure> {
            var loader = ThinMetadataLoader(
                metadataBlocks: metadataBlocks, dataBlocks: dataBlocks, dataBlockSectors: dataBlockSectors,
                maxEntries: maxEntries, checking: checking)
            var step = loader.start()
            while true {
                switch step {
                case .read(let numbers):
                    var read: [UInt64: [UInt8]] = [:]
                    for number in numbers {
                        read[number] = blocks[number] ?? [UInt8](repeating: 0, count: ThinMetadataFormat.blockBytes)
                    }
                    step = loader.received(read)
                case .loaded(let metadata): return .success(metadata)
                case .failed(let reason): return .failure(LoadFailure(reason: reason))
                }
            }
        }
    }

    static func empty(metadataBlocks: Int = 64, dataBlocks: Int = 256) -> ThinMetadata {
        ThinMetadata(metadataBlocks: metadataBlocks, dataBlocks: dataBlocks, dataBlockSectors: 128, maxEntries: 4)
    }

    /// Maps `block` of `device` to a newly allocated data block and returns it.
    @discardableResult
    static func provision(_ metadata: inout ThinMetadata, device: UInt64, block: UInt64) throws -> UInt64 {
        let allocated = metadata.allocateDataBlock()
        let data = try #require(allocated)
        _ = try metadata.insert(device: device, block: block, dataBlock: data)
        return data
    }

    static func mappings(_ metadata: ThinMetadata, device: UInt64) -> [UInt64: UInt64] {
        var found: [UInt64: UInt64] = [:]
        for block in metadata.mappedBlocks(device: device, from: 0, limit: .max) {
            found[block] = metadata.lookup(device: device, block: block)?.dataBlock
        }
        return found
    }

    @Test("CRC-32C of the standard check string")
    func checksum() {
        #expect(ThinChecksum.crc32c(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test("keys inserted in any order are found, split across levels, and survive a commit and reload")
    func insertLookupReload() throws {
        var metadata = Self.empty()
        try metadata.createThin(0)
        var expected: [UInt64: UInt64] = [:]
        // 50 keys in a scrambled order: with 4 entries per node the tree is three levels deep.
        for step in 0..<50 {
            let key = UInt64((step * 37) % 50)
            expected[key] = try Self.provision(&metadata, device: 0, block: key)
        }
        #expect(Self.mappings(metadata, device: 0) == expected)
        #expect(metadata.devices[0]?.mappedBlocks == 50)
        #expect(metadata.highestMapped(device: 0) == 49)
        #expect(metadata.lookup(device: 0, block: 50) == nil)
        #expect(metadata.lookup(device: 0, block: 7)?.shared == false)
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        metadata.commitEnded(durable: true)
        let reloaded = try disk.load().get()
        #expect(Self.mappings(reloaded, device: 0) == expected)
        #expect(reloaded.meta.used == metadata.meta.used)
        #expect(reloaded.data.used == 50)
    }

    @Test("removing every key leaves an empty tree and frees its nodes")
    func removeAll() throws {
        var metadata = Self.empty()
        try metadata.createThin(3)
        for key in UInt64(0)..<30 { try Self.provision(&metadata, device: 3, block: key) }
        for key in stride(from: UInt64(29), through: 0, by: -2) {
            #expect(try metadata.remove(device: 3, block: key)?.freed == true)
        }
        #expect(try metadata.remove(device: 3, block: 29) == nil)
        #expect(metadata.devices[3]?.mappedBlocks == 15)
        for key in stride(from: UInt64(0), to: 30, by: 2) { _ = try metadata.remove(device: 3, block: key) }
        #expect(metadata.devices[3]?.root == 0)
        #expect(metadata.nodes.isEmpty)
        // Nothing was committed, so every block is free again but the two superblocks.
        #expect(metadata.meta.used == 2)
        #expect(metadata.data.used == 0)
    }

    @Test("a snapshot copies no mapping; a write to either side breaks sharing of that path only")
    func snapshotSharing() throws {
        var metadata = Self.empty()
        try metadata.createThin(0)
        for key in UInt64(0)..<40 { try Self.provision(&metadata, device: 0, block: key) }
        let before = Self.mappings(metadata, device: 0)
        let nodes = metadata.nodes.count
        let used = metadata.meta.used
        try metadata.createSnapshot(1, of: 0)
        #expect(metadata.nodes.count == nodes)
        #expect(metadata.meta.used == used)
        #expect(metadata.devices[1]?.mappedBlocks == 40)
        #expect(metadata.lookup(device: 0, block: 5)?.shared == true)
        #expect(metadata.lookup(device: 1, block: 5)?.shared == true)
        // The origin overwrites block 5 into a new data block (copy on write).
        let fresh = try Self.provision(&metadata, device: 0, block: 5)
        #expect(metadata.lookup(device: 0, block: 5) == .init(dataBlock: fresh, shared: false))
        #expect(metadata.lookup(device: 1, block: 5) == .init(dataBlock: before[5] ?? 0, shared: false))
        // Its neighbours in the copied leaf are still shared, through the data block's count.
        #expect(metadata.lookup(device: 0, block: 4)?.shared == true)
        #expect(Self.mappings(metadata, device: 1) == before)
        // Deleting the origin frees only what it alone mapped.
        let freed = try metadata.delete(0)
        #expect(freed == [fresh])
        #expect(metadata.lookup(device: 1, block: 4)?.shared == false)
        #expect(Self.mappings(metadata, device: 1) == before)
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        let reloaded = try disk.load().get()
        #expect(Self.mappings(reloaded, device: 1) == before)
        #expect(reloaded.data.used == 40)
    }

    @Test("a commit whose superblock never landed, or landed torn, leaves the one before")
    func crashBetweenCommits() throws {
        var metadata = Self.empty()
        try metadata.createThin(0)
        for key in UInt64(0)..<20 { try Self.provision(&metadata, device: 0, block: key) }
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        metadata.commitEnded(durable: true)
        let first = Self.mappings(metadata, device: 0)
        for key in UInt64(20)..<40 { try Self.provision(&metadata, device: 0, block: key) }
        for key in UInt64(0)..<10 { _ = try metadata.remove(device: 0, block: key) }
        try metadata.createThin(9)
        let second = try metadata.prepareCommit()
        // Its blocks never overwrite one the first commit references.
        let live = Set(try disk.load().get().nodes.keys)
        #expect(live.isDisjoint(with: second.blocks.map(\.block)))
        var crashed = disk
        crashed.apply(second, superblock: false)
        #expect(Self.mappings(try crashed.load().get(), device: 0) == first)
        var torn = crashed
        var bytes = second.superblockBytes
        // Its first sector landed; the rest of the block holds what was there before.
        bytes.replaceSubrange(512..<4096, with: repeatElement(0xEE, count: 3584))
        torn.blocks[UInt64(second.superblock.slot)] = bytes
        let afterTear = try torn.load().get()
        #expect(Self.mappings(afterTear, device: 0) == first)
        #expect(afterTear.devices[9] == nil)
        var landed = crashed
        landed.apply(second)
        #expect(Self.mappings(try landed.load().get(), device: 0) == Self.mappings(metadata, device: 0))
    }

    @Test("data blocks unmapped in a transaction are not reused before its commit is durable")
    func releasedDataWaitsForCommit() throws {
        var metadata = Self.empty(dataBlocks: 4)
        try metadata.createThin(0)
        for key in UInt64(0)..<4 { try Self.provision(&metadata, device: 0, block: key) }
        _ = try metadata.prepareCommit()
        metadata.commitEnded(durable: true)
        #expect(try metadata.remove(device: 0, block: 2)?.freed == true)
        #expect(metadata.allocateDataBlock() == nil)
        _ = try metadata.prepareCommit()
        #expect(metadata.allocateDataBlock() == nil)
        metadata.commitEnded(durable: true)
        #expect(metadata.allocateDataBlock() != nil)
    }

    @Test("the metadata snapshot keeps the trees as they were until it is released")
    func metadataSnapshot() throws {
        var metadata = Self.empty()
        try metadata.createThin(0)
        for key in UInt64(0)..<12 { try Self.provision(&metadata, device: 0, block: key) }
        try metadata.reserveMetadataSnapshot()
        #expect(throws: MapperError.self) { try metadata.reserveMetadataSnapshot() }
        for key in UInt64(0)..<12 { _ = try metadata.remove(device: 0, block: key) }
        #expect(metadata.data.used == 12)
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        metadata.commitEnded(durable: true)
        #expect(metadata.heldRoot != nil)
        let reloaded = try disk.load().get()
        #expect(reloaded.held?.devices.first?.mappedBlocks == 12)
        #expect(reloaded.data.used == 12)
        try metadata.releaseMetadataSnapshot()
        disk.apply(try metadata.prepareCommit())
        metadata.commitEnded(durable: true)
        #expect(metadata.data.used == 0)
        #expect(try disk.load().get().data.used == 0)
    }

    @Test(
        "the loader refuses what is not this pool's metadata",
        arguments: [
            ("garbage superblock", 0), ("data block size", 1), ("data device shrank", 2), ("corrupt node", 3),
            ("double mapping", 4),
        ])
    func refusals(name: String, kind: Int) throws {
        var metadata = Self.empty()
        try metadata.createThin(0)
        try metadata.createThin(1)
        for key in UInt64(0)..<8 { try Self.provision(&metadata, device: 0, block: key) }
        try Self.provision(&metadata, device: 1, block: 0)
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        #expect((try? disk.load().get()) != nil)
        var result: Result<ThinMetadata, LoadFailure>
        switch kind {
        case 0:
            disk.blocks[0] = [UInt8](repeating: 0xA5, count: 4096)
            disk.blocks[1] = [UInt8](repeating: 0xA5, count: 4096)
            result = disk.load()
        case 1: result = disk.load(dataBlockSectors: 256)
        case 2: result = disk.load(dataBlocks: 128)
        case 3:
            let node = try #require(metadata.devices[0]?.root)
            disk.blocks[node]?[100] ^= 0xFF
            result = disk.load()
        default:
            // Device 1's one leaf rewritten to map the data block device 0 maps at block 0.
            let leaf = try #require(metadata.devices[1]?.root)
            let stolen = try #require(metadata.lookup(device: 0, block: 0)?.dataBlock)
            disk.blocks[leaf] = ThinMetadataFormat.encode(
                ThinNode(isLeaf: true, keys: [0], values: [stolen]), at: leaf)
            result = disk.load()
            #expect((try? disk.load(checking: false).get()) != nil)
        }
        guard case .failure(let reason) = result else {
            Issue.record("\(name): loaded")
            return
        }
        #expect(!reason.reason.isEmpty)
    }

    @Test("an all-zero metadata device is formatted; its first commit then loads")
    func format() throws {
        var metadata = try Disk().load().get()
        #expect(metadata.generation == 0)
        try metadata.createThin(0)
        var disk = Disk()
        disk.apply(try metadata.prepareCommit())
        #expect(try disk.load().get().devices[0] != nil)
    }

    @Test("one insertion step at a node, as a table: replace, insert, full, descend")
    func insertSteps() {
        typealias Step = ThinNode.InsertStep
        let leaf = ThinNode(isLeaf: true, keys: [2, 4, 6], values: [20, 40, 60])
        let inner = ThinNode(isLeaf: false, keys: [10, 20, 30], values: [100, 200, 300])
        let rows: [(ThinNode, key: UInt64, max: Int, Step, keys: [UInt64], values: [UInt64])] = [
            (leaf, 4, 5, .replaced(old: 40), [2, 4, 6], [20, 99, 60]),
            // A full leaf still replaces a key it has: nothing to split.
            (leaf, 6, 3, .replaced(old: 60), [2, 4, 6], [20, 40, 99]),
            (leaf, 5, 5, .inserted, [2, 4, 5, 6], [20, 40, 99, 60]),
            (leaf, 1, 5, .inserted, [1, 2, 4, 6], [99, 20, 40, 60]),
            (leaf, 5, 3, .full, [2, 4, 6], [20, 40, 60]),
            (inner, 25, 5, .descend(index: 1, child: 200), [10, 20, 30], [100, 200, 300]),
            (inner, 30, 5, .descend(index: 2, child: 300), [10, 20, 30], [100, 200, 300]),
            // Below every key: the first child, whose lowest key it becomes.
            (inner, 3, 5, .descend(index: 0, child: 100), [3, 20, 30], [100, 200, 300]),
            (inner, 25, 3, .full, [10, 20, 30], [100, 200, 300]),
        ]
        for (index, row) in rows.enumerated() {
            var node = row.0
            #expect(node.insertStep(key: row.key, value: 99, maxEntries: row.max) == row.3, "row \(index)")
            #expect(node.keys == row.keys && node.values == row.values, "row \(index)")
        }
    }
}
