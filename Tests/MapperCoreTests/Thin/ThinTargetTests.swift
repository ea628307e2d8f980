import Foundation
import MapperTestSupport
import Testing

@testable import MapperCore

/// `thin-pool` and `thin` over file backends: allocation on first write, zeroes for unmapped
/// blocks, snapshots that share blocks until written, metadata read back after the pool is
/// closed, discards, and writes held while the pool is out of data space.
@Suite("thin targets", .timeLimit(.minutes(1)))
struct ThinTargetTests {
    /// A pool of `dataBlocks` 64 KiB blocks (on a data backend of `dataSectors`) and thin
    /// device 0 of 8192 sectors on it, named `t`.
    static func pool(
        _ fixture: EngineFixture, dataBlocks: UInt64 = 16, dataSectors: UInt64 = 4096, features: String = ""
    ) async throws -> (pool: MappedDevice, thin: MappedDevice) {
        try await fixture.backend("meta", sectors: 2048)
        try await fixture.backend("data", sectors: dataSectors)
        let pool = try await fixture.device(
            "pool", table: "0 \(dataBlocks * 128) thin-pool meta data 128 2\(features.isEmpty ? "" : " \(features)")")
        _ = try await pool.message("create_thin 0")
        let thin = try await fixture.device("t", table: "0 8192 thin pool 0")
        return (pool, thin)
    }

    static func flush(_ fixture: EngineFixture, _ device: MappedDevice) async throws -> Errno? {
        try await device.perform(fixture.manager.makeBio(op: .flush, sector: 0, sectors: 0, buffer: nil))
    }

    @Test("a thin device reads zeroes until written; a first write allocates one zeroed block")
    func provisioning() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        let poolTarget = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        let thinTarget = try #require(thin.liveTable?.targets.first?.target as? ThinTarget)
        #expect(poolTarget.table() == "meta data 128 2 0")
        #expect(thinTarget.table() == "pool 0")
        #expect(try await fixture.read(thin, sector: 0, sectors: 256).allSatisfy { $0 == 0 })
        #expect(thinTarget.status() == "0 -")
        // Sectors 130..<138: inside the second block of the thin device.
        #expect(try await fixture.write(thin, sector: 130, sectors: 8, byte: 0x5A) == nil)
        #expect(thinTarget.status() == "128 255")
        let block = try await fixture.read(thin, sector: 128, sectors: 128)
        #expect(block[(2 * 512)..<(10 * 512)].allSatisfy { $0 == 0x5A })
        #expect(block[0..<(2 * 512)].allSatisfy { $0 == 0 } && block[(10 * 512)...].allSatisfy { $0 == 0 })
        // One data block in use: the first one of the data device, zeroed around the write.
        #expect(poolTarget.status().hasPrefix("0 "))
        #expect(poolTarget.status().contains(" 1/16 - rw discard_passdown queue_if_no_space - "))
        #expect(try fixture.fileBytes("data", offset: 2 * 512, count: 8 * 512).allSatisfy { $0 == 0x5A })
        // A write spanning two blocks is split at the boundary and allocates both.
        #expect(try await fixture.write(thin, sector: 1000, sectors: 48, byte: 0x6B) == nil)
        #expect(thinTarget.status() == "384 1151")
        #expect(try await fixture.read(thin, sector: 1000, sectors: 48).allSatisfy { $0 == 0x6B })
        // Over-provisioned 4x: the thin device is larger than the pool.
        #expect(thin.info.sizeSectors == 4 * pool.info.sizeSectors)
    }

    @Test("a snapshot shares the origin's blocks; writes to either side copy only what they change")
    func snapshots() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 0x11) == nil)
        // Taking a snapshot of a running origin is refused, as it would catch writes in flight.
        await #expect(throws: MapperError.self) { try await pool.message("create_snap 1 0") }
        try await thin.suspend()
        _ = try await pool.message("create_snap 1 0")
        try await thin.resume()
        let snap = try await fixture.device("s", table: "0 8192 thin pool 1")
        let poolTarget = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(poolTarget.status().contains(" 2/16 "))
        // Eight sectors of the origin's first block change: that block is copied, whole.
        #expect(try await fixture.write(thin, sector: 8, sectors: 8, byte: 0x22) == nil)
        #expect(poolTarget.status().contains(" 3/16 "))
        let origin = try await fixture.read(thin, sector: 0, sectors: 128)
        #expect(origin[0..<4096].allSatisfy { $0 == 0x11 } && origin[4096..<8192].allSatisfy { $0 == 0x22 })
        #expect(origin[8192...].allSatisfy { $0 == 0x11 })
        #expect(try await fixture.read(snap, sector: 0, sectors: 256).allSatisfy { $0 == 0x11 })
        // The snapshot writes its second block: the origin's stays.
        #expect(try await fixture.write(snap, sector: 128, sectors: 128, byte: 0x33) == nil)
        #expect(try await fixture.read(thin, sector: 128, sectors: 128).allSatisfy { $0 == 0x11 })
        #expect(try await fixture.read(snap, sector: 128, sectors: 128).allSatisfy { $0 == 0x33 })
        #expect(poolTarget.status().contains(" 4/16 "))
        // A device with a table cannot be deleted; once removed, it can, and its blocks go.
        await #expect(throws: MapperError.self) { try await pool.message("delete 1") }
        try await fixture.manager.removeDevice(named: "s")
        _ = try await pool.message("delete 1")
        #expect(try await Self.flush(fixture, thin) == nil)
        // Its own copy of block 1 and the old block 0 only it still mapped.
        #expect(poolTarget.status().contains(" 2/16 "))
    }

    @Test("the pool's metadata is read back after the pool is closed and made again")
    func reopen() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        _ = try await pool.message("create_thin 7")
        _ = try await pool.message("set_transaction_id 0 5")
        #expect(try await fixture.write(thin, sector: 300, sectors: 100, byte: 0x44) == nil)
        #expect(try await Self.flush(fixture, thin) == nil)
        try await fixture.manager.removeDevice(named: "t")
        try await fixture.manager.removeDevice(named: "pool")
        // Offline, the check finds what was committed; a flipped byte in a node is found too.
        let file = fixture.directory.appendingPathComponent("meta.img")
        let report = try ThinMetadataCheck.check(file: file)
        #expect(report.transactionID == 5 && report.devices == 2 && report.dataBlocksUsed == 2)
        #expect(report.mappedBlocks == 2 && report.dataBlocks == 16 && report.dataBlockSectors == 128)
        var bytes = try Data(contentsOf: file)
        let corrupt = fixture.directory.appendingPathComponent("corrupt.img")
        for block in 2..<(bytes.count / 4096) where bytes[block * 4096 + 4] == 0x4C {
            bytes[block * 4096 + 40] ^= 0xFF
        }
        try bytes.write(to: corrupt)
        #expect(throws: MapperError.self) { try ThinMetadataCheck.check(file: corrupt) }
        let again = try await fixture.device("pool", table: "0 2048 thin-pool meta data 128 2")
        let target = try #require(again.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(target.status().hasPrefix("5 "))
        #expect(target.status().contains(" 2/16 "))
        let thin2 = try await fixture.device("t", table: "0 8192 thin pool 0")
        #expect(try await fixture.read(thin2, sector: 300, sectors: 100).allSatisfy { $0 == 0x44 })
        #expect(try await fixture.read(thin2, sector: 0, sectors: 300).allSatisfy { $0 == 0 })
        #expect(try await fixture.device("t7", table: "0 128 thin pool 7").info.sizeSectors == 128)
        // A pool cannot shrink below the blocks its metadata knows.
        await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "pool", text: "0 1024 thin-pool meta data 128 2")
        }
    }

    @Test("a whole-block discard unmaps the block and frees it; a partial one changes nothing")
    func discard() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        let poolTarget = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 0x55) == nil)
        let partial = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 64, buffer: nil)
        #expect(try await thin.perform(partial) == nil)
        let whole = fixture.manager.makeBio(op: .discard, sector: 128, sectors: 128, buffer: nil)
        #expect(try await thin.perform(whole) == nil)
        #expect(thin.liveTable?.targets.first?.target.status() == "128 127")
        #expect(try await fixture.read(thin, sector: 128, sectors: 128).allSatisfy { $0 == 0 })
        #expect(try await fixture.read(thin, sector: 0, sectors: 128).allSatisfy { $0 == 0x55 })
        #expect(try await Self.flush(fixture, thin) == nil)
        #expect(poolTarget.status().contains(" 1/16 "))
    }

    @Test("out of data space, writes are held until the pool grows, then land")
    func outOfSpaceHeldUntilGrown() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture, dataBlocks: 2, dataSectors: 256)
        let mark = fixture.engine.events.lastSeq
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 0x66) == nil)
        let held = fixture.writeBio(sector: 256, sectors: 128, byte: 0x77)
        try thin.submit(held)
        #expect(await held.waitUntilEndedOrDurablyQueued())
        #expect(held.state == .queued)
        #expect(await fixture.waitForEvent(.thinOutOfSpace, after: mark)?.device == "pool")
        let poolTarget = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(poolTarget.status().contains(" 2/2 - out_of_data_space "))
        // A longer table does not fit on the data backend until it grows.
        await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "pool", text: "0 512 thin-pool meta data 128 2")
        }
        try await fixture.manager.resizeBackend(named: "data", sizeBytes: 512 * 512)
        // The pool grows: a noflush suspend, a longer table, a resume.
        try await pool.suspend(noflush: true)
        try await fixture.manager.load(device: "pool", text: "0 512 thin-pool meta data 128 2")
        try await pool.resume()
        #expect(await held.wait() == nil)
        #expect(try await fixture.read(thin, sector: 256, sectors: 128).allSatisfy { $0 == 0x77 })
        let grown = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(grown.status().contains(" 3/4 - rw "))
    }

    @Test("crossing the low water mark raises one event, on the pool device")
    func lowWater() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture, dataBlocks: 4)
        let mark = fixture.engine.events.lastSeq
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 1) == nil)
        let before = pool.info.eventNr
        #expect(try await fixture.write(thin, sector: 128, sectors: 8, byte: 2) == nil)
        let event = await fixture.waitForEvent(.thinLowWater, after: mark)
        #expect(event?.device == "pool" && event?.detail == "2 data blocks free")
        #expect(pool.info.eventNr == before + 1)
        #expect(try await fixture.write(thin, sector: 256, sectors: 8, byte: 3) == nil)
        #expect(fixture.engine.events.events(after: mark).filter { $0.kind == .thinLowWater }.count == 1)
    }

    @Test("a full pool whose blocks were discarded holds a write only until the commit that frees them")
    func discardThenWrite() async throws {
        let fixture = try EngineFixture()
        let (_, thin) = try await Self.pool(fixture, dataBlocks: 2)
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 1) == nil)
        #expect(try await Self.flush(fixture, thin) == nil)
        let discard = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 128, buffer: nil)
        #expect(try await thin.perform(discard) == nil)
        // The freed block is not handed out before a commit; the write asks for one and lands.
        #expect(try await fixture.write(thin, sector: 512, sectors: 8, byte: 2) == nil)
        #expect(try await fixture.read(thin, sector: 512, sectors: 8).allSatisfy { $0 == 2 })
    }

    @Test("a reused block that still holds old data is zeroed around a partial write; a hole is not rewritten")
    func zeroingOfReusedBlocks() async throws {
        let fixture = try EngineFixture()
        let (_, thin) = try await Self.pool(fixture, dataBlocks: 1, features: "1 no_discard_passdown")
        let backend = try fixture.manager.backend(named: "data") as? FileBackend
        #expect(backend?.readsAsZeros(sector: 0, sectors: 128) == true)
        #expect(try await fixture.write(thin, sector: 0, sectors: 128, byte: 0x11) == nil)
        #expect(backend?.readsAsZeros(sector: 0, sectors: 128) == false)
        #expect(backend?.readsAsZeros(sector: 128, sectors: 128) == true)
        let discard = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 128, buffer: nil)
        #expect(try await thin.perform(discard) == nil)
        #expect(try await Self.flush(fixture, thin) == nil)
        // The only data block, freed without passdown, still holds 0x11 in the file.
        #expect(try fixture.fileBytes("data", offset: 0, count: 512).allSatisfy { $0 == 0x11 })
        #expect(try await fixture.write(thin, sector: 136, sectors: 8, byte: 0x22) == nil)
        let block = try await fixture.read(thin, sector: 128, sectors: 128)
        #expect(block[(8 * 512)..<(16 * 512)].allSatisfy { $0 == 0x22 })
        #expect(block[..<(8 * 512)].allSatisfy { $0 == 0 } && block[(16 * 512)...].allSatisfy { $0 == 0 })
    }

    @Test("first writes zero the new blocks that hold old data and skip those that read as zeroes")
    func zeroingAroundOldData() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("meta", sectors: 2048)
        try await fixture.backend("data", sectors: 16 * 128)
        // Data blocks 3 and 6 of the data file hold old data before the pool is made.
        let handle = try FileHandle(forWritingTo: fixture.directory.appendingPathComponent("data.img"))
        for block in [3, 6] {
            try handle.seek(toOffset: UInt64(block) * 65536)
            try handle.write(contentsOf: Data(repeating: 0xEE, count: 65536))
        }
        try handle.close()
        let pool = try await fixture.device("pool", table: "0 \(16 * 128) thin-pool meta data 128 2")
        _ = try await pool.message("create_thin 0")
        let thin = try await fixture.device("t", table: "0 8192 thin pool 0")
        // Blocks are handed out in order: thin block n gets data block n.
        for block in UInt64(0)..<8 {
            #expect(
                try await fixture.write(thin, sector: block * 128 + 8, sectors: 8, byte: 0x30 + UInt8(block)) == nil)
        }
        let backend = try #require(try fixture.manager.backend(named: "data") as? FileBackend)
        for block in UInt64(0)..<8 {
            let bytes = try await fixture.read(thin, sector: block * 128, sectors: 128)
            #expect(bytes[(8 * 512)..<(16 * 512)].allSatisfy { $0 == 0x30 + UInt8(block) }, "block \(block)")
            #expect(
                bytes[..<(8 * 512)].allSatisfy { $0 == 0 } && bytes[(16 * 512)...].allSatisfy { $0 == 0 },
                "block \(block)")
            // Only the blocks that held data were written whole.
            #expect(
                backend.readsAsZeros(sector: block * 128, sectors: 8) == ![3, 6].contains(block), "block \(block)")
        }
    }

    @Test("held writes fail with ENOSPC once the no-space timeout passes, and new ones at once until the pool grows")
    func noSpaceTimeout() async throws {
        let fixture = try EngineFixture(thinNoSpaceTimeout: .milliseconds(20))
        let (_, thin) = try await Self.pool(fixture, dataBlocks: 1)
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 0x66) == nil)
        let held = fixture.writeBio(sector: 128, sectors: 8, byte: 0x67)
        try thin.submit(held)
        #expect(await held.wait() == .ENOSPC)
        #expect(try await fixture.write(thin, sector: 256, sectors: 8, byte: 0x68) == .ENOSPC)
    }

    @Test("a noflush suspend of a thin device hands its held writes back; its resume issues them again")
    func heldWritesPushedBack() async throws {
        let fixture = try EngineFixture()
        let (_, thin) = try await Self.pool(fixture, dataBlocks: 1)
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 0x66) == nil)
        let held = fixture.writeBio(sector: 128, sectors: 8, byte: 0x67)
        try thin.submit(held)
        #expect(await held.waitUntilEndedOrDurablyQueued())
        try await thin.suspend(noflush: true)
        // Pushed back to the core, and deferred there until the resume.
        #expect(held.state == .deferred)
        // Still no space after the resume: held again, not failed.
        try await thin.resume()
        #expect(await held.waitUntilEndedOrDurablyQueued())
        #expect(held.state == .queued)
        try await fixture.manager.removeDevice(named: "t", force: true)
        #expect(await held.wait() != nil)
    }

    @Test("with error_if_no_space a write that needs a block fails at once with ENOSPC")
    func errorIfNoSpace() async throws {
        let fixture = try EngineFixture()
        let (_, thin) = try await Self.pool(fixture, dataBlocks: 1, features: "1 error_if_no_space")
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 0x66) == nil)
        #expect(try await fixture.write(thin, sector: 128, sectors: 8, byte: 0x66) == .ENOSPC)
        // Writes to a block it has still land.
        #expect(try await fixture.write(thin, sector: 16, sectors: 8, byte: 0x67) == nil)
    }

    @Test("read_only: provisioned blocks take writes, others EIO; messages EROFS")
    func readOnly() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 1) == nil)
        #expect(try await Self.flush(fixture, thin) == nil)
        try await pool.suspend()
        try await fixture.manager.load(device: "pool", text: "0 2048 thin-pool meta data 128 2 1 read_only")
        try await pool.resume()
        let target = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        #expect(target.status().contains(" - ro discard_passdown "))
        #expect(try await fixture.write(thin, sector: 8, sectors: 8, byte: 2) == nil)
        #expect(try await fixture.write(thin, sector: 128, sectors: 8, byte: 3) == .EIO)
        await #expect(throws: MapperError.self) { try await pool.message("create_thin 5") }
    }

    @Test("a pool whose metadata cannot be read fails: status Fail, an event, I/O EIO")
    func failedMetadata() async throws {
        let fixture = try EngineFixture()
        try await fixture.device("meta", table: "0 2048 error")
        try await fixture.backend("data", sectors: 2048)
        let mark = fixture.engine.events.lastSeq
        let pool = try await fixture.device("pool", table: "0 2048 thin-pool meta data 128 2")
        #expect(pool.liveTable?.targets.first?.target.status() == "Fail")
        #expect(await fixture.waitForEvent(.thinPoolFailed, after: mark)?.device == "pool")
        await #expect(throws: MapperError.self) { try await pool.message("create_thin 0") }
    }

    @Test("reserve_metadata_snap shows a held root once committed; release drops it")
    func metadataSnapshotMessages() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 1) == nil)
        _ = try await pool.message("reserve_metadata_snap")
        #expect(try await Self.flush(fixture, thin) == nil)
        let target = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget)
        let fields = target.status().split(separator: " ")
        #expect(fields.count == 9 && fields[3] != "-" && UInt64(fields[3]) != nil)
        await #expect(throws: MapperError.self) { try await pool.message("reserve_metadata_snap") }
        _ = try await pool.message("release_metadata_snap")
        #expect(target.status().split(separator: " ")[3] == "-")
    }

    @Test("thin devices keep their pool when the pool line is replaced; a pool line on it again finds the same pool")
    func thinHoldsPool() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await Self.pool(fixture)
        let first = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget).pool
        try await pool.suspend()
        try await fixture.manager.load(device: "pool", text: "0 2048 linear data 0")
        try await pool.resume()
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 9) == nil)
        try await pool.suspend()
        try await fixture.manager.load(device: "pool", text: "0 2048 thin-pool meta data 128 2")
        try await pool.resume()
        let again = try #require(pool.liveTable?.targets.first?.target as? ThinPoolTarget).pool
        #expect(again === first)
        #expect(try await fixture.read(thin, sector: 0, sectors: 8).allSatisfy { $0 == 9 })
    }

    @Test(
        "bad tables and messages are refused",
        arguments: [
            "table 0 2048 thin-pool meta data 100 2", "table 0 2048 thin-pool meta data 128 2 1 zero_everything",
            "table 0 64 thin-pool meta data 128 2", "table 0 2048 thin-pool meta meta 128 2",
            "table 0 2048 thin-pool meta data 128 2", "table 0 8 zero\n8 2040 thin-pool meta data 128 2",
            "thin 0 128 thin data 0", "thin 0 128 thin pool 9", "thin 0 128 thin pool 0 origin",
            "message create_thin 0", "message create_snap 2 9", "message delete 9", "message set_transaction_id 3 4",
            "message release_metadata_snap", "message frobnicate", "message create_thin x",
        ])
    func refusals(_ line: String) async throws {
        let fixture = try EngineFixture()
        let (pool, _) = try await Self.pool(fixture)
        let (kind, rest) = (line.prefix { $0 != " " }, line.drop { $0 != " " }.dropFirst())
        await #expect(throws: MapperError.self) {
            switch kind {
            case "table": try await fixture.device("p2", table: String(rest))
            case "thin": try await fixture.device("t2", table: String(rest))
            default: _ = try await pool.message(String(rest))
            }
        }
    }
}
