import Foundation
import MapperTestSupport
import Testing

@testable import MapperCore

/// The pool's features and its commit period, one rule each: `skip_block_zeroing`,
/// `ignore_discard`, discard passdown (and none for a block a snapshot shares), the
/// `out_of_data_space` mode with `error_if_no_space`, and a commit within the period for a
/// mapping whose data write ended after the period's commit had run.
@Suite("thin pool features", .timeLimit(.minutes(1)))
struct ThinPoolFeatureTests {
    /// Writes `byte` over every data block of the data file before a pool uses it.
    static func oldData(_ fixture: EngineFixture, blocks: Int, byte: UInt8) throws {
        let handle = try FileHandle(forWritingTo: fixture.directory.appendingPathComponent("data.img"))
        try handle.write(contentsOf: Data(repeating: byte, count: blocks * 65536))
        try handle.close()
    }

    @Test("skip_block_zeroing: a partial first write leaves the old data of the block around it")
    func skipBlockZeroing() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("meta", sectors: 2048)
        try await fixture.backend("data", sectors: 4 * 128)
        try Self.oldData(fixture, blocks: 4, byte: 0xEE)
        let pool = try await fixture.device("pool", table: "0 512 thin-pool meta data 128 0 1 skip_block_zeroing")
        _ = try await pool.message("create_thin 0")
        let thin = try await fixture.device("t", table: "0 2048 thin pool 0")
        #expect(try await fixture.write(thin, sector: 8, sectors: 8, byte: 0x31) == nil)
        let block = try await fixture.read(thin, sector: 0, sectors: 128)
        #expect(block[(8 * 512)..<(16 * 512)].allSatisfy { $0 == 0x31 })
        #expect(block[..<(8 * 512)].allSatisfy { $0 == 0xEE } && block[(16 * 512)...].allSatisfy { $0 == 0xEE })
        #expect(pool.liveTable?.targets.first?.target.table() == "meta data 128 0 1 skip_block_zeroing")
        // An unmapped block still reads as zeroes: only the allocated block is not zeroed.
        #expect(try await fixture.read(thin, sector: 128, sectors: 128).allSatisfy { $0 == 0 })
    }

    @Test("ignore_discard: a discard changes nothing; the block stays mapped and keeps its data")
    func ignoreDiscard() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await ThinTargetTests.pool(fixture, features: "1 ignore_discard")
        #expect(try await fixture.write(thin, sector: 0, sectors: 128, byte: 0x55) == nil)
        let discard = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 128, buffer: nil)
        #expect(try await thin.perform(discard) == nil)
        #expect(try await ThinTargetTests.flush(fixture, thin) == nil)
        #expect(thin.liveTable?.targets.first?.target.status() == "128 127")
        #expect(try await fixture.read(thin, sector: 0, sectors: 128).allSatisfy { $0 == 0x55 })
        let status = pool.liveTable?.targets.first?.target.status() ?? ""
        #expect(status.contains(" 1/16 - rw ignore_discard queue_if_no_space "), "\(status)")
    }

    @Test("a whole-block discard is passed down to the data device, except for a block a snapshot shares")
    func discardPassdown() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await ThinTargetTests.pool(fixture)
        let data = try #require(try fixture.manager.backend(named: "data") as? FileBackend)
        // Data blocks 0 and 1 (thin blocks 0 and 1), written whole.
        #expect(try await fixture.write(thin, sector: 0, sectors: 256, byte: 0x44) == nil)
        #expect(!data.readsAsZeros(sector: 0, sectors: 256))
        // Thin block 1 is the origin's alone: its data block is punched.
        let own = fixture.manager.makeBio(op: .discard, sector: 128, sectors: 128, buffer: nil)
        #expect(try await thin.perform(own) == nil)
        #expect(data.readsAsZeros(sector: 128, sectors: 128))
        // Thin block 0 is shared with a snapshot: unmapped from the origin, kept for the snapshot.
        try await thin.suspend()
        _ = try await pool.message("create_snap 1 0")
        try await thin.resume()
        let snap = try await fixture.device("s", table: "0 8192 thin pool 1")
        let shared = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 128, buffer: nil)
        #expect(try await thin.perform(shared) == nil)
        #expect(thin.liveTable?.targets.first?.target.status() == "0 -")
        #expect(!data.readsAsZeros(sector: 0, sectors: 128))
        #expect(try await fixture.read(snap, sector: 0, sectors: 128).allSatisfy { $0 == 0x44 })
        #expect(try await fixture.read(thin, sector: 0, sectors: 128).allSatisfy { $0 == 0 })
        #expect(try await ThinTargetTests.flush(fixture, thin) == nil)
        let status = pool.liveTable?.targets.first?.target.status() ?? ""
        #expect(status.contains(" 1/16 "), "\(status)")
    }

    @Test(
        "a failed allocation puts the pool in out_of_data_space (with error_if_no_space too) until it grows or an allocation succeeds"
    )
    func errorIfNoSpaceMode() async throws {
        let fixture = try EngineFixture()
        let (pool, thin) = try await ThinTargetTests.pool(
            fixture, dataBlocks: 1, dataSectors: 256, features: "1 error_if_no_space")
        let target = { pool.liveTable?.targets.first?.target.status() ?? "" }
        #expect(try await fixture.write(thin, sector: 0, sectors: 8, byte: 0x66) == nil)
        // Full, but nothing has failed yet.
        #expect(target().contains(" 1/1 - rw "), "\(target())")
        #expect(try await fixture.write(thin, sector: 128, sectors: 8, byte: 0x66) == .ENOSPC)
        #expect(target().contains(" 1/1 - out_of_data_space "), "\(target())")
        // A discard frees the block (once committed) and the next allocation takes it: full
        // again, but nothing failed since.
        let discard = fixture.manager.makeBio(op: .discard, sector: 0, sectors: 128, buffer: nil)
        #expect(try await thin.perform(discard) == nil)
        #expect(try await ThinTargetTests.flush(fixture, thin) == nil)
        #expect(try await fixture.write(thin, sector: 128, sectors: 8, byte: 0x67) == nil)
        #expect(target().contains(" 1/1 - rw "), "\(target())")
        #expect(try await fixture.write(thin, sector: 256, sectors: 8, byte: 0x68) == .ENOSPC)
        #expect(target().contains(" 1/1 - out_of_data_space "), "\(target())")
        // Grown: writable again.
        try await pool.suspend(noflush: true)
        try await fixture.manager.load(device: "pool", text: "0 256 thin-pool meta data 128 2 1 error_if_no_space")
        try await pool.resume()
        #expect(target().contains(" 1/2 - rw "), "\(target())")
        #expect(try await fixture.write(thin, sector: 256, sectors: 8, byte: 0x68) == nil)
    }

    @Test("data block sizes run from 64 KiB to 1 GiB in multiples of 128 sectors, as dm's")
    func blockSizes() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("meta", sectors: 2048)
        // Sparse: two blocks of the largest size and one more block of 64 KiB.
        try await fixture.backend("data", sectors: 2 * 2_097_152 + 128)
        for (size, refusal) in [
            (64, "data block size"), (2_097_280, "data block size"), (192, "not a multiple of 128"),
        ] {
            await #expect {
                try await fixture.device("p\(size)", table: "0 \(2 * size) thin-pool meta data \(size) 0")
            } throws: { error in
                "\(error)".contains(refusal)
            }
        }
        let pool = try await fixture.device("pool", table: "0 4194304 thin-pool meta data 2097152 0")
        let status = pool.liveTable?.targets.first?.target.status() ?? ""
        #expect(status.contains(" 0/2 - rw "), "\(status)")
    }

    @Test("a mapping whose data write ends after the period's commit ran is committed within the next period")
    func commitAfterLateWrite() async throws {
        let fixture = try EngineFixture(thinCommitPeriod: .milliseconds(10))
        try await fixture.backend("meta", sectors: 2048)
        // The data device holds every clone until the test ends it.
        try await fixture.device("slow", table: "0 2048 test")
        let data = try #require(fixture.controlled.instance(at: 0))
        // Formatting the new metadata is a commit: it flushes the data device first.
        async let made = fixture.device("pool", table: "0 2048 thin-pool meta slow 128 2")
        try await Self.endFlush(data, held: 1)
        let pool = try await made
        // So does the message's.
        _ = try await pool.message("create_thin 0")
        try await Self.endFlush(data, held: 1)
        let thin = try await fixture.device("t", table: "0 8192 thin pool 0")
        // A whole-block write: allocated, written as is, mapped when the write ends.
        let write = fixture.writeBio(sector: 0, sectors: 128, byte: 0x5A)
        try thin.submit(write)
        // The commit the allocation scheduled runs while the write is held (it cannot map the
        // block yet): its data flush arrives beside the write.
        try await Self.endFlush(data, held: 2)
        #expect(data.held.map(\.op) == [.write])
        data.end(.ok)
        #expect(await write.wait() == nil)
        // Nothing else happens on the pool: a commit still comes, within the period.
        try await Self.endFlush(data, held: 1)
    }

    /// Waits (10 s at most) until `held` clones are held, then ends the one flush among them.
    static func endFlush(_ data: ControlledTarget, held count: Int) async throws {
        let arrived = try await withDeadline(.now + .seconds(10)) { await data.waitForHeld(count) }
        try #require(arrived != nil, "\(count) clones never reached the data device: \(data.held.map(\.op))")
        let index = try #require(data.held.firstIndex { $0.op == .flush }, "no flush among \(data.held.map(\.op))")
        data.end(.ok, at: index)
    }
}
