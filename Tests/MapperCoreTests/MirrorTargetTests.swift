import Foundation
import MapperTestSupport
import Testing

@testable import MapperCore

/// The `mirror` target over file backends: dm-raid1's table and status strings, writes on
/// every mirror, resync from the default mirror, a read retried on another mirror.
@Suite("mirror target", .timeLimit(.minutes(1)))
struct MirrorTargetTests {
    @Test("a nosync mirror writes every leg; table and status read as dm prints them")
    func writesEveryLeg() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 8 nosync 2 d0 0 d1 0")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.table() == "core 2 8 nosync 2 d0 0 d1 0")
        #expect(target.status() == "2 d0 d1 8/8 1 AA 1 core")
        #expect(try await fixture.write(mirror, sector: 8, sectors: 8, byte: 0x5A) == nil)
        #expect(try fixture.fileBytes("d0", offset: 4096, count: 4096).allSatisfy { $0 == 0x5A })
        #expect(try fixture.fileBytes("d1", offset: 4096, count: 4096).allSatisfy { $0 == 0x5A })
        #expect(try await fixture.read(mirror, sector: 8, sectors: 8).allSatisfy { $0 == 0x5A })
        // A write crossing a region boundary is split there and lands whole on both.
        #expect(try await fixture.write(mirror, sector: 20, sectors: 8, byte: 0x6B) == nil)
        #expect(try fixture.fileBytes("d1", offset: 20 * 512, count: 4096).allSatisfy { $0 == 0x6B })
    }

    @Test("a mirror created with sync copies every region from the default mirror, then says so")
    func resync() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        let source = try await fixture.device("src", table: "0 64 linear d0 0")
        #expect(try await fixture.write(source, sector: 0, sectors: 64, byte: 0x11) == nil)
        try await fixture.manager.removeDevice(named: "src")
        let mark = fixture.engine.events.lastSeq
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 16 sync 2 d0 0 d1 0")
        #expect(await fixture.waitForEvent(.mirrorInSync, after: mark)?.device == "m")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.status() == "2 d0 d1 4/4 1 AA 1 core")
        #expect(try fixture.fileBytes("d1", offset: 0, count: 64 * 512).allSatisfy { $0 == 0x11 })
    }

    @Test("a resync's copies leave the page cache as they found it: the source's read folios are dropped")
    func resyncLeavesCache() async throws {
        let fixture = try EngineFixture()
        let d0 = try await fixture.backend("d0", sectors: 2048)
        try await fixture.backend("d1", sectors: 2048)
        let source = try await fixture.device("src", table: "0 2048 linear d0 0")
        #expect(try await fixture.write(source, sector: 0, sectors: 2048, byte: 0x3C) == nil)
        try await fixture.manager.removeDevice(named: "src")
        let files = ["d0", "d1"].map { fixture.directory.appendingPathComponent("\($0).img") }
        for file in files { try FileBackendDontCacheTests.dropCache(file) }
        let mark = fixture.engine.events.lastSeq
        _ = try await fixture.device("m", table: "0 2048 mirror core 2 256 sync 2 d0 0 d1 0")
        #expect(await fixture.waitForEvent(.mirrorInSync, after: mark)?.device == "m")
        #expect(try fixture.fileBytes("d1", offset: 0, count: 2048 * 512).allSatisfy { $0 == 0x3C })
        guard !d0.dontCacheWasRefused else { return }  // a file system without RWF_DONTCACHE
        let pages = (2048 * 512) / Int(sysconf(Int32(_SC_PAGESIZE)))
        let left = try FileBackendDontCacheTests.residentPages(files[0], at: 0, count: 2048 * 512)
        #expect(left < pages / 4, "\(left) of \(pages) pages of the source left cached by the resync's reads")
    }

    @Test(
        "the first write while out of sync drops the destination leg's cached pages over its range, once, and no others"
    )
    func firstWriteDropsDestinationCache() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 2048)
        try await fixture.backend("d1", sectors: 4096)
        // Both files' bytes, cached, the destination's inside the leg's range and past it,
        // written in 64 KiB pieces: the kernel drops whole folios only, and one reaching past
        // the range (as a single 2 MiB write may leave) would stay.
        for (name, sectors, byte) in [("d0", UInt64(2048), UInt8(0x3C)), ("d1", 4096, 0x77)] {
            let device = try await fixture.device("fill", table: "0 \(sectors) linear \(name) 0")
            for sector in stride(from: UInt64(0), to: sectors, by: 128) {
                #expect(try await fixture.write(device, sector: sector, sectors: 128, byte: byte) == nil)
            }
            try await fixture.manager.removeDevice(named: "fill")
        }
        let files = ["d0", "d1"].map { fixture.directory.appendingPathComponent("\($0).img") }
        for file in files { try FileBackendDontCacheTests.flush(file) }
        let bytes = 2048 * 512
        let pages = bytes / Int(sysconf(Int32(_SC_PAGESIZE)))
        func resident(_ file: Int, at byte: Int) throws -> Int {
            try FileBackendDontCacheTests.residentPages(files[file], at: byte, count: bytes)
        }
        #expect(try resident(1, at: 0) == pages)

        // In sync from the start: a write drops nothing.
        let insync = try await fixture.device("m", table: "0 2048 mirror core 2 256 nosync 2 d0 0 d1 0")
        let quiet = try #require(insync.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(try await fixture.write(insync, sector: 1024, sectors: 8, byte: 0x3C) == nil)
        quiet.copyQueue.sync {}
        #expect(try resident(1, at: 0) == pages)
        try await fixture.manager.removeDevice(named: "m")
        // Its write is a dirty page on both legs, which a drop writes back and keeps.
        for file in files { try FileBackendDontCacheTests.flush(file) }

        // Out of sync, resync frozen: nothing dropped until a write; then the destination's
        // range, on the copy queue (before any copy queued after it).
        let mirror = try await fixture.device("m", table: "0 2048 zero")
        try await fixture.manager.load(device: "m", text: "0 2048 mirror core 2 256 sync 2 d0 0 d1 0")
        let target = try #require(mirror.inactiveTable?.targets.first?.target as? MirrorTarget)
        _ = try target.message(["frozen"])
        try await mirror.resume(noflush: true)
        target.copyQueue.sync {}
        #expect(try resident(1, at: 0) == pages, "no write yet")
        #expect(try await fixture.write(mirror, sector: 0, sectors: 8, byte: 0x5A) == nil)
        target.copyQueue.sync {}
        #expect(try resident(1, at: 0) == 0, "the destination's range is dropped")
        #expect(try resident(1, at: bytes) == pages, "past the leg's range the cache stays")
        #expect(try resident(0, at: 0) == pages, "the source's cache stays")
        // Once: cached again, a later write leaves it.
        _ = try fixture.fileBytes("d1", offset: 0, count: bytes)
        #expect(try await fixture.write(mirror, sector: 512, sectors: 8, byte: 0x5A) == nil)
        target.copyQueue.sync {}
        #expect(try resident(1, at: 0) == pages, "dropped once only")

        let mark = fixture.engine.events.lastSeq
        _ = try target.message(["resync"])
        #expect(await fixture.waitForEvent(.mirrorInSync, after: mark)?.device == "m")
        let copied = try fixture.fileBytes("d1", offset: 0, count: bytes)
        #expect(copied.prefix(4096).allSatisfy { $0 == 0x5A })
        #expect(copied.dropFirst(4096).prefix(256 * 1024 - 4096).allSatisfy { $0 == 0x3C })
        #expect(try fixture.fileBytes("d1", offset: bytes, count: bytes).allSatisfy { $0 == 0x77 })
    }

    @Test("a write after resync ended drops no leg's cache: nothing is stale any more")
    func noDropOnceInSync() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 2048)
        try await fixture.backend("d1", sectors: 2048)
        let mark = fixture.engine.events.lastSeq
        let mirror = try await fixture.device("m", table: "0 2048 mirror core 2 256 sync 2 d0 0 d1 0")
        #expect(await fixture.waitForEvent(.mirrorInSync, after: mark)?.device == "m")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        // The destination's copied bytes, written back and cached again (in 64 KiB pieces).
        let file = fixture.directory.appendingPathComponent("d1.img")
        try FileBackendDontCacheTests.flush(file)
        for offset in stride(from: 0, to: 2048 * 512, by: 64 << 10) {
            _ = try fixture.fileBytes("d1", offset: offset, count: 64 << 10)
        }
        let pages = (2048 * 512) / Int(sysconf(Int32(_SC_PAGESIZE)))
        #expect(try FileBackendDontCacheTests.residentPages(file, at: 0, count: 2048 * 512) == pages)
        #expect(try await fixture.write(mirror, sector: 0, sectors: 8, byte: 0x5A) == nil)
        target.copyQueue.sync {}
        #expect(try FileBackendDontCacheTests.residentPages(file, at: 0, count: 2048 * 512) == pages)
    }

    @Test("a read the default mirror fails is served by the next; a write it fails puts its region out of sync")
    func readRetryAndPartialWrite() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d1", sectors: 64)
        try await fixture.device("bad", table: "0 64 error")
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 8 nosync 2 bad 0 d1 0")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(try await fixture.write(mirror, sector: 0, sectors: 8, byte: 0x22) == nil)
        // The write error shows as D (dm records it whether or not errors are handled).
        #expect(target.status() == "2 bad d1 7/8 1 DA 1 core")
        #expect(try fixture.fileBytes("d1", offset: 0, count: 4096).allSatisfy { $0 == 0x22 })
        // Region 1 is still in sync: its read is retried on d1. Region 0 is not: only the
        // default mirror may serve it, and it fails.
        #expect(try await fixture.read(mirror, sector: 8, sectors: 8).allSatisfy { $0 == 0 })
        await #expect(throws: Errno.EIO) { try await fixture.read(mirror, sector: 0, sectors: 8) }
    }

    @Test(
        "table errors are EINVAL",
        arguments: [
            "0 64 mirror disk 2 small 8 2 d0 0 d1 0",
            "0 64 mirror disk 1 d0 2 d0 0 d1 0",
            "0 64 mirror disk 2 nolog 8 2 d0 0 d1 0",
            "0 64 mirror journal 1 8 2 d0 0 d1 0",
            "0 64 mirror core 1 8 1 d0 0",
            "0 64 mirror core 1 6 2 d0 0 d1 0",
            "0 64 mirror core 2 8 maybe 2 d0 0 d1 0",
            "0 64 mirror core 1 8 2 d0 0 d1 0 1 keep_log",
        ])
    func tableErrors(table: String) async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        // A disk log of 8 regions needs 16 sectors.
        try await fixture.backend("small", sectors: 8)
        await #expect(throws: MapperError.self) { try await fixture.device("m", table: table) }
    }

    @Test("a suspend waits for the resync copies in flight, and resync goes on after the resume")
    func suspendWaitsForTheCopy() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.device("slow", table: "0 64 test")
        let leg = try #require(fixture.controlled.instance(at: 0))
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 8 sync 2 d0 0 slow 0")
        // The first regions' copies (as many as run side by side) have read d0 and are
        // writing the slow leg.
        await leg.waitForHeld(MirrorTarget.maxRecoveries)
        let mark = fixture.engine.events.lastSeq
        let suspend = Task { try await mirror.suspend() }
        // Whichever comes first: the suspend announcing its wait, or (wrongly) ending.
        let first = await withTaskGroup(of: EngineEvent?.self) { group in
            group.addTask { await fixture.waitForEvent(.suspendWaiting, after: mark) }
            group.addTask { await fixture.waitForEvent(.deviceSuspended, after: mark) }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(first?.kind == .suspendWaiting)
        #expect(first?.detail.contains("resync copy") == true)
        #expect(!fixture.engine.events.events(after: mark).contains { $0.kind == .deviceSuspended })
        leg.endAll(.ok)
        try await suspend.value
        #expect(mirror.info.suspended)
        // Suspended: no further copy started.
        #expect(leg.held.isEmpty)
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.status().contains(" \(MirrorTarget.maxRecoveries)/8 "))
        let inSync = fixture.engine.events.lastSeq
        try await mirror.resume()
        await leg.waitForHeld(8 - MirrorTarget.maxRecoveries)
        leg.endAll(.ok)
        #expect(await fixture.waitForEvent(.mirrorInSync, after: inSync)?.device == "m")
        #expect(target.status().contains(" 8/8 "))
    }

    @Test("resync_rate sets the resync pace; other messages are EINVAL")
    func resyncRateMessage() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 8 nosync 2 d0 0 d1 0")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.resyncRate == 0)
        #expect(try target.message(["resync_rate", "52428800"]) == "")
        #expect(target.resyncRate == 50 << 20)
        #expect(throws: MapperError.self) { try target.message(["resync_rate", "fast"]) }
        #expect(throws: MapperError.self) { try target.message(["suspend_resync"]) }
    }

    /// A mirror over `d0` and a leg that fails every write, with `handle_errors`; a write to
    /// it is held once the bad leg is marked dead.
    static func heldWrite() async throws -> (EngineFixture, MappedDevice, MirrorTarget, Bio) {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.device("bad", table: "0 64 error")
        let mirror = try await fixture.device("m", table: "0 64 mirror core 2 8 nosync 2 d0 0 bad 0 1 handle_errors")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.table() == "core 2 8 nosync 2 d0 0 bad 0 1 handle_errors")
        let mark = fixture.engine.events.lastSeq
        let bio = fixture.writeBio(sector: 8, sectors: 8, byte: 0x7C)
        try mirror.submit(bio)
        // Whichever comes first: the leg marked dead (the write then held), or the write's end.
        let first = await withTaskGroup(of: String?.self) { group in
            group.addTask { await fixture.waitForEvent(.mirrorLegFailed, after: mark)?.path }
            // (A cancellable wait: nil once cancelled.)
            group.addTask { await bio.wait(deadline: nil) == nil ? nil : "ended" }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(first == "bad")
        #expect(bio.ended == nil)
        #expect(target.status() == "2 d0 bad 7/8 1 AD 1 core")
        #expect(try fixture.fileBytes("d0", offset: 8 * 512, count: 4096).allSatisfy { $0 == 0x7C })
        return (fixture, mirror, target, bio)
    }

    @Test("handle_errors: the failed leg is dead and the write held; a noflush suspend pushes it back to the new table")
    func handleErrorsPushback() async throws {
        let (fixture, mirror, target, bio) = try await Self.heldWrite()
        // A dead leg is no longer written: the next write goes to d0 alone and ends.
        #expect(try await fixture.write(mirror, sector: 16, sectors: 8, byte: 0x7D) == nil)
        try await mirror.suspend(noflush: true)
        #expect(bio.ended == nil)
        try await fixture.manager.load(device: "m", text: "0 64 linear d0 0")
        try await mirror.resume(noflush: true)
        #expect(await bio.wait() == nil)
        #expect(try fixture.fileBytes("d0", offset: 8 * 512, count: 4096).allSatisfy { $0 == 0x7C })
        withExtendedLifetime(target) {}
    }

    @Test("handle_errors: without noflush, a suspend fails the held write with EIO")
    func handleErrorsFlushSuspend() async throws {
        let (fixture, mirror, _, bio) = try await Self.heldWrite()
        try await mirror.suspend()
        #expect(await bio.wait() == .EIO)
        withExtendedLifetime(fixture) {}
    }

    @Test("a disk log marks a region dirty before its write and clean after; a restart resyncs only the dirty ones")
    func diskLogAcrossRestart() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        try await fixture.backend("log", sectors: 16)
        let mirror = try await fixture.device("m", table: "0 64 mirror disk 3 log 8 nosync 2 d0 0 d1 0")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        target.setCleanDelay(nil)
        #expect(target.table() == "disk 3 log 8 nosync 2 d0 0 d1 0")
        #expect(target.status() == "2 d0 d1 8/8 1 AA 3 disk log A")
        #expect(try fixture.fileBytes("log", offset: 0, count: 8) == Array("MAPPERDL".utf8))
        let bitmap = { try fixture.fileBytes("log", offset: 4096, count: 1)[0] }
        #expect(try bitmap() == 0)
        // The write's end implies its mark was durable first (the log is read after it).
        #expect(try await fixture.write(mirror, sector: 24, sectors: 8, byte: 0x33) == nil)
        #expect(try await fixture.write(mirror, sector: 40, sectors: 8, byte: 0x35) == nil)
        #expect(try bitmap() == 0b10_1000)
        // A region is cleaned once it has been idle for a whole period: the first pass after
        // the writes starts that period, the second cleans.
        target.cleanNow()
        await target.waitForIdle()
        #expect(try bitmap() == 0b10_1000)
        target.cleanNow()
        await target.waitForIdle()
        #expect(try bitmap() == 0)
        // Region 3 is written again; then the mirror goes away without a clean pass (a crash).
        #expect(try await fixture.write(mirror, sector: 24, sectors: 8, byte: 0x34) == nil)
        #expect(try bitmap() == 0b1000)
        try await fixture.manager.removeDevice(named: "m")
        // The mirrors now differ in regions 3 and 5, as a crash between two legs' writes leaves them.
        let direct = try await fixture.device("direct", table: "0 64 linear d0 0")
        #expect(try await fixture.write(direct, sector: 24, sectors: 8, byte: 0x55) == nil)
        #expect(try await fixture.write(direct, sector: 40, sectors: 8, byte: 0x55) == nil)
        try await fixture.manager.removeDevice(named: "direct")
        // Back on the same log: dirty region 3 is copied from the default mirror; clean 5 is not.
        let mark = fixture.engine.events.lastSeq
        let again = try await fixture.device("m", table: "0 64 mirror disk 2 log 8 2 d0 0 d1 0")
        #expect(await fixture.waitForEvent(.mirrorInSync, after: mark)?.device == "m")
        #expect(try fixture.fileBytes("d1", offset: 24 * 512, count: 4096).allSatisfy { $0 == 0x55 })
        #expect(try fixture.fileBytes("d1", offset: 40 * 512, count: 4096).allSatisfy { $0 == 0x35 })
        let reloaded = try #require(again.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(reloaded.status() == "2 d0 d1 8/8 1 AA 3 disk log A")
    }

    @Test("a log that cannot be written: D in the status, a mirror.log-failed event, and a write needing a mark fails")
    func diskLogFailure() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.backend("d1", sectors: 64)
        try await fixture.device("badlog", table: "0 16 error")
        let mark = fixture.engine.events.lastSeq
        let mirror = try await fixture.device("m", table: "0 64 mirror disk 3 badlog 8 nosync 2 d0 0 d1 0")
        #expect(await fixture.waitForEvent(.mirrorLogFailed, after: mark)?.path == "badlog")
        let target = try #require(mirror.liveTable?.targets.first?.target as? MirrorTarget)
        #expect(target.status() == "2 d0 d1 8/8 1 AA 3 disk badlog D")
        #expect(try await fixture.write(mirror, sector: 0, sectors: 8, byte: 0x01) == .EIO)
        #expect(try fixture.fileBytes("d0", offset: 0, count: 4096).allSatisfy { $0 == 0 })
    }

    @Test("health characters as dm shows them: S for a failed resync copy, F for a failed flush")
    func healthCharacters() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("d0", sectors: 64)
        try await fixture.device("bad", table: "0 64 error")
        // Resync copies d0 to a leg that fails the write: S on that leg, resync stops.
        try await fixture.device("slow", table: "0 64 test")
        let leg = try #require(fixture.controlled.instance(at: 0))
        let copying = try await fixture.device("s", table: "0 64 mirror core 2 64 sync 2 d0 0 slow 0")
        let syncing = try #require(copying.liveTable?.targets.first?.target as? MirrorTarget)
        await leg.waitForHeld(1)
        leg.end(.error(.EIO))
        await syncing.waitForIdle()
        #expect(syncing.status() == "2 d0 slow 0/1 1 AS 1 core")
        let flushing = try await fixture.device("f", table: "0 64 mirror core 2 8 nosync 2 d0 0 bad 0")
        let target = try #require(flushing.liveTable?.targets.first?.target as? MirrorTarget)
        let flush = fixture.manager.makeBio(op: .flush, sector: 0, sectors: 0, buffer: nil)
        #expect(try await flushing.perform(flush) == .EIO)
        #expect(target.status() == "2 d0 bad 8/8 1 AF 1 core")
    }

    @Test(
        "clean passes back off when the legs' flush is slow: at most a twentieth of the time, at most 30 s apart",
        arguments: [
            (Duration.zero, Duration.milliseconds(500)),
            (.milliseconds(20), .milliseconds(500)),
            (.milliseconds(100), .seconds(2)),
            (.seconds(1), .seconds(20)),
            (.seconds(5), .seconds(30)),
        ])
    func cleanInterval(legFlush: Duration, interval: Duration) {
        #expect(MirrorTarget.cleanInterval(base: .milliseconds(500), legFlush: legFlush) == interval)
    }
}
