import Testing

@testable import MapperCore

/// Random operations on the thin metadata against a plain model of what every device maps,
/// with a commit, a reload and the loader's checks after each round (seeded, deterministic).
@Suite("thin metadata, random")
struct ThinMetadataRandomTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11 ^ state
        }
    }

    @Test("provisioning, unmapping, snapshots and deletes match the model", arguments: [1, 2, 3, 4])
    func model(seed: UInt64) throws {
        var random = Generator(state: seed)
        var metadata = ThinMetadata(metadataBlocks: 1024, dataBlocks: 4096, dataBlockSectors: 128, maxEntries: 5)
        var model: [UInt64: [UInt64: UInt64]] = [:]
        var disk = ThinMetadataTests.Disk()
        var nextID: UInt64 = 0
        /// What the last durable commit holds.
        var committed: [UInt64: [UInt64: UInt64]] = [:]
        for _ in 0..<12 {
            for _ in 0..<60 {
                let ids = model.keys.sorted()
                let roll = Int.random(in: 0..<100, using: &random)
                if ids.isEmpty || roll < 4 {
                    try metadata.createThin(nextID)
                    model[nextID] = [:]
                    nextID += 1
                } else if roll < 8, let origin = ids.randomElement(using: &random) {
                    try metadata.createSnapshot(nextID, of: origin)
                    model[nextID] = model[origin]
                    nextID += 1
                } else if roll < 10, ids.count > 1, let victim = ids.randomElement(using: &random) {
                    try metadata.delete(victim)
                    model[victim] = nil
                } else if let id = ids.randomElement(using: &random) {
                    let block = UInt64.random(in: 0..<64, using: &random)
                    if roll < 75 {
                        let allocated = metadata.allocateDataBlock()
                        let data = try #require(allocated)
                        _ = try metadata.insert(device: id, block: block, dataBlock: data)
                        model[id]?[block] = data
                    } else {
                        _ = try metadata.remove(device: id, block: block)
                        model[id]?[block] = nil
                    }
                }
            }
            for (id, expected) in model {
                #expect(ThinMetadataTests.mappings(metadata, device: id) == expected)
                #expect(metadata.devices[id]?.mappedBlocks == UInt64(expected.count))
            }
            let referenced = Set(model.values.flatMap(\.values))
            let commit = try metadata.prepareCommit()
            // A crash at any point of the commit: any subset of its blocks landed (they are
            // written side by side) and no superblock; or all of them (the superblock is
            // written after a flush) and a torn superblock. The pool comes back at the commit
            // before, with the devices it had.
            for _ in 0..<2 {
                var crashed = disk
                let tear = Bool.random(using: &random)
                for (block, bytes) in commit.blocks where tear || Bool.random(using: &random) {
                    crashed.blocks[block] = bytes
                }
                if tear {
                    var torn = commit.superblockBytes
                    let cut = Int.random(in: 1..<8, using: &random) * 512
                    torn.replaceSubrange(cut..<4096, with: repeatElement(0xEE, count: 4096 - cut))
                    crashed.blocks[UInt64(commit.superblock.slot)] = torn
                }
                let before = try crashed.load(metadataBlocks: 1024, dataBlocks: 4096, maxEntries: 5).get()
                #expect(Set(before.devices.keys) == Set(committed.keys))
                for (id, expected) in committed {
                    #expect(ThinMetadataTests.mappings(before, device: id) == expected)
                }
            }
            disk.apply(commit)
            metadata.commitEnded(durable: true)
            committed = model
            let reloaded = try disk.load(metadataBlocks: 1024, dataBlocks: 4096, maxEntries: 5).get()
            for (id, expected) in model {
                #expect(ThinMetadataTests.mappings(reloaded, device: id) == expected)
            }
            // Counted from the trees alone, the space maps agree with what is referenced.
            #expect(reloaded.data.used == referenced.count)
            #expect(reloaded.meta.used == metadata.meta.used)
            #expect(reloaded.data.used == metadata.data.used)
        }
    }
}
