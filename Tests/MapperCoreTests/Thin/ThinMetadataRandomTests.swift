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

    @Test(
        "provisioning, unmapping, snapshots, deletes and metadata snapshots match the model, across a crash at any point of every commit",
        arguments: [1, 2, 3, 4])
    func model(seed: UInt64) throws {
        var random = Generator(state: seed)
        var metadata = ThinMetadata(metadataBlocks: 1024, dataBlocks: 4096, dataBlockSectors: 128, maxEntries: 5)
        var model: [UInt64: [UInt64: UInt64]] = [:]
        var disk = ThinMetadataTests.Disk()
        var nextID: UInt64 = 0
        /// The mappings a reserved metadata snapshot holds (as they were when it was reserved).
        var held: [UInt64: [UInt64: UInt64]]?
        /// What the last durable commit holds: every device's mappings, and the metadata
        /// blocks in use (unknown before the first commit).
        var committed: [UInt64: [UInt64: UInt64]] = [:]
        var committedHeld: [UInt64: [UInt64: UInt64]]?
        var committedMetaUsed: Int?
        var committedMetadata: ThinMetadata?
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
                    _ = try metadata.delete(victim)
                    model[victim] = nil
                } else if roll < 12 {
                    // reserve_metadata_snap / release_metadata_snap: the held trees keep their
                    // nodes and the data blocks they map until released (so a tool reading the
                    // data through them reads what they mapped).
                    if held == nil {
                        try metadata.reserveMetadataSnapshot()
                        held = model
                    } else {
                        try metadata.releaseMetadataSnapshot()
                        held = nil
                    }
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
            let commit = try metadata.prepareCommit()
            // Copy on write: the commit writes no block the commit before uses, so whichever of
            // its blocks land before a crash, that commit is intact.
            if let previous = committedMetadata {
                for (block, _) in commit.blocks {
                    #expect(previous.meta.counts[Int(block)] == 0, "block \(block) is in use by the commit before")
                }
            }
            for crashed in Self.crashes(during: commit, on: disk, random: &random) {
                Self.expectCommitBefore(
                    crashed, committed: committed, held: committedHeld, metaUsed: committedMetaUsed)
            }
            disk.apply(commit)
            metadata.commitEnded(durable: true)
            committed = model
            committedHeld = held
            let reloaded = try disk.load(metadataBlocks: 1024, dataBlocks: 4096, maxEntries: 5).get()
            for (id, expected) in model {
                #expect(ThinMetadataTests.mappings(reloaded, device: id) == expected)
            }
            #expect((reloaded.heldRoot != nil) == (held != nil))
            // Counted from the trees alone, the space maps agree with what is referenced.
            #expect(reloaded.data.used == Self.referenced(model, held: held))
            #expect(reloaded.meta.used == metadata.meta.used)
            #expect(reloaded.data.used == metadata.data.used)
            committedMetaUsed = reloaded.meta.used
            committedMetadata = reloaded
        }
    }

    /// What the metadata device may hold after a crash between any two writes of `commit` on
    /// `disk`. Its blocks are written side by side, then flushed, then the superblock: so any
    /// subset of its blocks with no superblock (every block, which covers every subset once the
    /// commit writes no block the commit before uses, and one random subset), or every block
    /// and a superblock torn after each of its first 7 sectors.
    static func crashes(
        during commit: ThinMetadata.Commit, on disk: ThinMetadataTests.Disk, random: inout Generator
    ) -> [ThinMetadataTests.Disk] {
        var landed = disk
        landed.apply(commit, superblock: false)
        var subset = disk
        for (block, bytes) in commit.blocks where Bool.random(using: &random) { subset.blocks[block] = bytes }
        var crashes = [landed, subset]
        for cut in 1..<8 {
            var crashed = landed
            var torn = commit.superblockBytes
            torn.replaceSubrange((cut * 512)..<4096, with: repeatElement(0xEE, count: 4096 - cut * 512))
            crashed.blocks[UInt64(commit.superblock.slot)] = torn
            crashes.append(crashed)
        }
        return crashes
    }

    /// The data blocks in use: those the devices map and those a held metadata snapshot maps.
    static func referenced(_ model: [UInt64: [UInt64: UInt64]], held: [UInt64: [UInt64: UInt64]]?) -> Int {
        Set(model.values.flatMap(\.values)).union((held ?? [:]).values.flatMap(\.values)).count
    }

    /// The pool comes back at the commit before: the same devices and mappings, the data
    /// blocks they (and a held metadata snapshot) reference in use and no other, the metadata
    /// blocks it used. Before the first commit landed, a device that holds nothing of it yet
    /// reads as never formatted.
    static func expectCommitBefore(
        _ crashed: ThinMetadataTests.Disk, committed: [UInt64: [UInt64: UInt64]],
        held: [UInt64: [UInt64: UInt64]]?, metaUsed: Int?
    ) {
        switch crashed.load(metadataBlocks: 1024, dataBlocks: 4096, maxEntries: 5) {
        case .success(let before):
            #expect(Set(before.devices.keys) == Set(committed.keys))
            for (id, expected) in committed {
                #expect(ThinMetadataTests.mappings(before, device: id) == expected)
            }
            #expect(before.data.used == referenced(committed, held: held))
            #expect((before.heldRoot != nil) == (held != nil))
            if let metaUsed { #expect(before.meta.used == metaUsed) }
        case .failure(let failure):
            #expect(metaUsed == nil && crashed.blocks[0] == nil, "\(failure.reason)")
        }
    }
}
