import Testing

@testable import MapperCore

/// dm-region-hash's rules as tables: each test feeds inputs to a ``RegionHash`` and checks
/// the actions and states it returns, with no threads and no I/O. Writes are named by strings.
@Suite("Region hash")
struct RegionHashTests {
    typealias Hash = RegionHash<String>

    static func allInSync(_ count: Int = 4) -> Hash { Hash(regionCount: count) { _ in true } }

    @Test("the first write to a clean region waits for its dirty mark; later ones go at once")
    func markBeforeWrite() {
        var hash = Self.allInSync()
        #expect(hash.state(1) == .clean)
        #expect(hash.write("w1", region: 1) == [.flushLog(generation: 1, dirty: [1], clean: [])])
        #expect(hash.state(1) == .dirty)
        // A second write while the mark is not durable waits too, and asks for no second flush.
        #expect(hash.write("w2", region: 1) == [])
        #expect(hash.heldWrites == 2)
        #expect(hash.logFlushed(generation: 1) == [.writeAll("w1"), .writeAll("w2")])
        #expect(hash.write("w3", region: 1) == [.writeAll("w3")])
        #expect(hash.pendingWrites(1) == 3)
    }

    @Test("marks made while a flush is in flight go out together in the next one")
    func marksBatchBehindAFlush() {
        var hash = Self.allInSync()
        #expect(hash.write("a", region: 0) == [.flushLog(generation: 1, dirty: [0], clean: [])])
        #expect(hash.write("b", region: 2) == [])
        #expect(hash.write("c", region: 3) == [])
        #expect(
            hash.logFlushed(generation: 1) == [.writeAll("a"), .flushLog(generation: 2, dirty: [2, 3], clean: [])])
        #expect(hash.logFlushed(generation: 2) == [.writeAll("b"), .writeAll("c")])
    }

    @Test("a region not in sync is written to the default mirror only, with no mark")
    func nosyncGoesToTheDefaultMirror() {
        var hash = Hash(regionCount: 4) { $0 != 2 }
        #expect(hash.state(2) == .nosync)
        #expect(hash.write("w", region: 2) == [.writeDefault("w")])
        #expect(hash.inSyncCount == 3)
        #expect(!hash.anyMirrorMayRead(2) && hash.anyMirrorMayRead(1))
    }

    @Test(
        "a write counted without a token goes where write(_:region:) would send it to the default mirror alone",
        arguments: [
            // region 0 clean, 1 dirty (both in sync), 2 not in sync, 3 being recovered
            (0, false), (1, false), (2, true), (3, false),
        ])
    func writeIfNotInSync(region: Int, counted: Bool) {
        var hash = Hash(regionCount: 4) { $0 < 2 }
        _ = hash.write("dirty", region: 1)
        _ = hash.logFlushed(generation: 1)
        _ = hash.writeEnded(region: 1, failedOnSome: false)
        #expect(hash.startRecovery() == [.copy(region: 2)])
        _ = hash.copyEnded(region: 2, success: false)
        #expect(hash.startRecovery() == [.copy(region: 3)])
        let states = (0..<4).map { hash.state($0) }
        #expect(states == [.clean, .dirty, .nosync, .recovering])
        var twin = hash
        let answer = hash.writeIfNotInSync(region: region)
        #expect(answer == counted)
        #expect(hash.pendingWrites(region) == (counted ? 1 : 0))
        #expect((0..<4).map { hash.state($0) } == states, "it marks nothing")
        let routed = twin.write("w", region: region)
        #expect((routed == [.writeDefault("w")]) == counted)
    }

    @Test("a write counted without a token holds back its region's recovery until it ends")
    func countedWriteQuiescesRecovery() {
        var hash = Hash(regionCount: 2) { $0 == 0 }
        let counted = hash.writeIfNotInSync(region: 1)
        #expect(counted)
        #expect(hash.startRecovery() == [])
        let again = hash.writeIfNotInSync(region: 1)
        #expect(!again, "a region being recovered takes writes through write(_:region:)")
        #expect(hash.writeEnded(region: 1, failedOnSome: false) == [.copy(region: 1)])
    }

    @Test("recovery waits for writes in flight; writes that come meanwhile wait for the copy")
    func recoveryQuiescesTheRegion() {
        var hash = Hash(regionCount: 4) { $0 != 1 }
        #expect(hash.write("before", region: 1) == [.writeDefault("before")])
        // Chosen, but a write is in flight: no copy yet.
        #expect(hash.startRecovery() == [])
        #expect(hash.state(1) == .recovering)
        #expect(hash.write("during", region: 1) == [])
        #expect(hash.heldWrites == 1)
        // The last write in flight ends: the copy starts.
        #expect(hash.writeEnded(region: 1, failedOnSome: false) == [.copy(region: 1)])
        #expect(hash.isCopying)
        // The copy ends: the region is in sync (and stays dirty), the waiting write goes to all.
        #expect(hash.copyEnded(region: 1, success: true) == [.writeAll("during")])
        #expect(hash.state(1) == .dirty && hash.inSyncCount == 4)
        #expect(hash.startRecovery() == nil)
    }

    @Test("a failed copy leaves the region out of sync; the waiting write goes to the default mirror")
    func failedCopy() {
        var hash = Hash(regionCount: 2) { $0 == 0 }
        #expect(hash.startRecovery() == [.copy(region: 1)])
        #expect(hash.write("w", region: 1) == [])
        #expect(hash.copyEnded(region: 1, success: false) == [.writeDefault("w")])
        #expect(hash.state(1) == .nosync)
        // Resync tries it again.
        #expect(hash.writeEnded(region: 1, failedOnSome: false) == [])
        #expect(hash.startRecovery() == [.copy(region: 1)])
    }

    @Test("resync goes through the regions in order and wraps around")
    func recoveryOrder() {
        var hash = Hash(regionCount: 5) { [1, 3].contains($0) }
        #expect(hash.startRecovery() == [.copy(region: 0)])
        #expect(hash.startRecovery() == [.copy(region: 2)])
        #expect(hash.startRecovery() == [.copy(region: 4)])
        #expect(hash.startRecovery() == nil)
        #expect(hash.copyEnded(region: 2, success: false) == [])
        #expect(hash.startRecovery() == [.copy(region: 2)])
    }

    /// Writes `write` to a clean `region` and lets its mark become durable.
    static func markAndWrite(_ hash: inout Hash, _ write: String, region: Int, generation: UInt64) {
        #expect(hash.write(write, region: region) == [.flushLog(generation: generation, dirty: [region], clean: [])])
        #expect(hash.logFlushed(generation: generation) == [.writeAll(write)])
    }

    @Test("regions go back to clean lazily, in one flush, only when quiet and in sync")
    func lazyClean() {
        var hash = Self.allInSync()
        Self.markAndWrite(&hash, "a", region: 0, generation: 1)
        Self.markAndWrite(&hash, "b", region: 1, generation: 2)
        #expect(hash.writeEnded(region: 0, failedOnSome: false) == [])
        // Region 1 still has a write in flight: only region 0 is cleared.
        #expect(hash.flushClean() == [.flushLog(generation: 3, dirty: [], clean: [0])])
        #expect(hash.state(0) == .clean && hash.state(1) == .dirty)
        #expect(hash.logFlushed(generation: 3) == [])
        #expect(hash.flushClean() == [])
    }

    @Test("idle only: a region written or copied since the last pass waits for the next one")
    func idleClean() {
        var hash = Self.allInSync()
        Self.markAndWrite(&hash, "a", region: 0, generation: 1)
        #expect(hash.writeEnded(region: 0, failedOnSome: false) == [])
        #expect(hash.flushClean(idleOnly: true) == [], "written in this period")
        #expect(hash.state(0) == .dirty)
        #expect(hash.flushClean(idleOnly: true) == [.flushLog(generation: 2, dirty: [], clean: [0])])
        #expect(hash.logFlushed(generation: 2) == [])
        // Written again in every period: never cleaned, never marked again.
        Self.markAndWrite(&hash, "b", region: 0, generation: 3)
        _ = hash.writeEnded(region: 0, failedOnSome: false)
        for _ in 0..<3 {
            #expect(hash.flushClean(idleOnly: true) == [])
            #expect(hash.write("c", region: 0) == [.writeAll("c")])
            _ = hash.writeEnded(region: 0, failedOnSome: false)
        }
        // A copy counts as a write: the region it brought in sync waits one period.
        var copied = RegionHash<String>(regionCount: 2) { $0 == 0 }
        #expect(copied.startRecovery() == [.copy(region: 1)])
        #expect(copied.copyEnded(region: 1, success: true) == [])
        #expect(copied.flushClean(idleOnly: true) == [])
        #expect(copied.flushClean(idleOnly: true) == [.flushLog(generation: 1, dirty: [], clean: [1])])
    }

    @Test(
        "a clean pass in two steps: regions idle when it begins and untouched until it ends are marked; the log stays free meanwhile"
    )
    func twoStepClean() {
        var hash = Self.allInSync()
        for (region, generation) in [(0, 1), (1, 2), (2, 3)] {
            Self.markAndWrite(&hash, "w\(region)", region: region, generation: UInt64(generation))
        }
        _ = hash.writeEnded(region: 0, failedOnSome: false)
        _ = hash.writeEnded(region: 1, failedOnSome: false)
        // All three were written in this period (and region 2's write is in flight).
        #expect(hash.beginCleanPass() == nil, "nothing idle for a whole period")
        _ = hash.writeEnded(region: 2, failedOnSome: false)
        let pass = hash.beginCleanPass()
        #expect(pass == Hash.CleanPass(period: 2, regions: [0, 1, 2]))
        // While the mirrors flush: region 1 is written again (dirty already: no mark), and a
        // write to clean region 3 gets its mark committed without waiting for the pass.
        #expect(hash.write("again", region: 1) == [.writeAll("again")])
        _ = hash.writeEnded(region: 1, failedOnSome: false)
        #expect(hash.write("new", region: 3) == [.flushLog(generation: 4, dirty: [3], clean: [])])
        #expect(hash.logFlushed(generation: 4) == [.writeAll("new")])
        // The flush ended: regions 0 and 2 are marked clean, not region 1 (its new data came
        // after the flush began).
        #expect(hash.endCleanPass(pass!) == [.flushLog(generation: 5, dirty: [], clean: [0, 2])])
        #expect(hash.state(0) == .clean && hash.state(1) == .dirty && hash.state(2) == .clean)
        #expect(hash.logFlushed(generation: 5) == [])
        // A pass that ends while a commit is in flight sends its marks after it.
        _ = hash.writeEnded(region: 3, failedOnSome: false)
        _ = hash.beginCleanPass()
        let next = hash.beginCleanPass()
        #expect(next == Hash.CleanPass(period: 4, regions: [1, 3]))
        #expect(hash.write("x", region: 0) == [.flushLog(generation: 6, dirty: [0], clean: [])])
        #expect(hash.endCleanPass(next!) == [])
        #expect(
            hash.logFlushed(generation: 6) == [.writeAll("x"), .flushLog(generation: 7, dirty: [], clean: [1, 3])])
    }

    @Test(
        "a two-step pass goes ahead only when it cleans a quarter of the dirty regions in sync: a flush of the mirrors for a few is skipped"
    )
    func cleanPassShare() {
        #expect(Hash.cleanPassShare == 4)
        // Regions 8-11 are not in sync: dirty, but never cleanable, so they do not count.
        var hash = Hash(regionCount: 12) { $0 < 8 }
        for region in 0..<8 { Self.markAndWrite(&hash, "w\(region)", region: region, generation: UInt64(region + 1)) }
        for region in 0..<8 { _ = hash.writeEnded(region: region, failedOnSome: false) }
        #expect(hash.beginCleanPass() == nil, "all eight written in the period")
        func rewrite(_ regions: Range<Int>) {
            for region in regions {
                #expect(hash.write("again\(region)", region: region) == [.writeAll("again\(region)")])
                _ = hash.writeEnded(region: region, failedOnSome: false)
            }
        }
        rewrite(0..<7)
        #expect(hash.beginCleanPass() == nil, "one idle region of eight: not worth a flush of the mirrors")
        #expect(hash.state(7) == .dirty)
        rewrite(0..<6)
        let pass = hash.beginCleanPass()
        #expect(pass == Hash.CleanPass(period: 3, regions: [6, 7]), "two of eight")
        #expect(hash.endCleanPass(pass!) == [.flushLog(generation: 9, dirty: [], clean: [6, 7])])
        #expect(hash.logFlushed(generation: 9) == [])
        // Once writes stop, every dirty region in sync is idle.
        #expect(hash.beginCleanPass() == Hash.CleanPass(period: 4, regions: Array(0..<6)))
        #expect(hash.state(8) == .nosync)
    }

    @Test("a write after a clean mark was sent marks again; before it was sent, it takes it back")
    func writeAndCleanMarks() {
        var hash = Self.allInSync()
        Self.markAndWrite(&hash, "a", region: 0, generation: 1)
        Self.markAndWrite(&hash, "b", region: 1, generation: 2)
        _ = hash.writeEnded(region: 0, failedOnSome: false)
        _ = hash.writeEnded(region: 1, failedOnSome: false)
        #expect(hash.flushClean() == [.flushLog(generation: 3, dirty: [], clean: [0, 1])])
        // Region 0's clean mark is in flight: a write to it must mark it again, after flush 3.
        #expect(hash.write("c", region: 0) == [])
        #expect(hash.logFlushed(generation: 3) == [.flushLog(generation: 4, dirty: [0], clean: [])])
        #expect(hash.logFlushed(generation: 4) == [.writeAll("c")])
        // Region 2 is cleared while flush 6 is in flight, so its clean mark is not sent yet:
        // a write takes it back (the log still says dirty, durably) and goes at once.
        Self.markAndWrite(&hash, "d", region: 2, generation: 5)
        _ = hash.writeEnded(region: 2, failedOnSome: false)
        #expect(hash.write("e", region: 3) == [.flushLog(generation: 6, dirty: [3], clean: [])])
        #expect(hash.flushClean() == [])
        #expect(hash.state(2) == .clean)
        #expect(hash.write("f", region: 2) == [.writeAll("f")])
        #expect(hash.state(2) == .dirty)
        #expect(hash.logFlushed(generation: 6) == [.writeAll("e")])
    }

    @Test("a write that failed on some mirrors leaves its region out of sync for resync")
    func partialFailure() {
        var hash = Self.allInSync()
        _ = hash.write("w", region: 3)
        _ = hash.logFlushed(generation: 1)
        #expect(hash.writeEnded(region: 3, failedOnSome: true) == [])
        #expect(hash.state(3) == .nosync && hash.inSyncCount == 3)
        #expect(hash.flushClean() == [])  // out of sync: stays dirty
        #expect(hash.startRecovery() == [.copy(region: 3)])
    }

    @Test("a failed log flush fails the writes that waited for it; the marks go out again")
    func logFailure() {
        var hash = Self.allInSync()
        #expect(hash.write("w", region: 1) == [.flushLog(generation: 1, dirty: [1], clean: [])])
        #expect(hash.logFlushFailed(generation: 1) == [.failWrite("w")])
        #expect(hash.pendingWrites(1) == 0)
        #expect(hash.write("again", region: 1) == [.flushLog(generation: 2, dirty: [1], clean: [])])
        #expect(hash.logFlushed(generation: 2) == [.writeAll("again")])
    }

    @Test("held writes are taken back on teardown and stop counting as in flight")
    func takeHeld() {
        var hash = Hash(regionCount: 2) { $0 == 0 }
        _ = hash.write("logged", region: 0)
        _ = hash.startRecovery()
        _ = hash.write("delayed", region: 1)
        #expect(hash.takeHeldWrites() == ["logged", "delayed"])
        #expect(hash.heldWrites == 0 && hash.pendingWrites(0) == 0)
    }
}
