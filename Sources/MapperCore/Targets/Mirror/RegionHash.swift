/// dm-region-hash for a `mirror` target: what each region of the device is (clean, dirty, not
/// in sync, recovering), the writes in flight to it, and the order in which writes, log
/// flushes and resync copies may happen. A pure state machine: every input returns the
/// actions its owner (the mirror target) carries out, and the owner reports back when a log
/// flush or a copy has ended. It does no I/O and holds no lock; the owner serialises inputs.
///
/// The rules, as dm-raid1 applies them per region:
/// - A write to a region **in sync** goes to every live mirror (``Action/writeAll(_:)``), but
///   only once the log says durably that the region is dirty: the first write to a clean
///   region marks it and waits for that mark's flush (``Action/flushLog(generation:dirty:clean:)``),
///   and so does every write that comes while the mark is not durable yet.
/// - A write to a region **not in sync** goes to the default mirror only
///   (``Action/writeDefault(_:)``): resync copies the region later. Such a region is always
///   dirty in the log (the owner's log keeps that true at start-up), so it needs no mark.
/// - A write to a region **being recovered** waits (it is kept here) until the region's copy
///   ends, then is routed again.
/// - Recovery of a region starts (``Action/copy(region:)``) only once no write is in flight to
///   it; writes that arrive meanwhile wait, so the copy reads what every mirror will hold.
/// - A region goes back to clean **lazily**: ``flushClean()`` clears the dirty bits of regions
///   that are in sync with nothing in flight, in one log flush. With a log whose clean marks
///   must wait for the mirrors to be flushed, a clean pass comes in two steps
///   (``beginCleanPass()``, then ``endCleanPass(_:)`` once the mirrors are flushed) and marks
///   clean only the regions that nothing reached in between; the log stays free for dirty
///   marks while the mirrors flush. Such a pass goes ahead only when it cleans a share of the
///   dirty regions (``cleanPassShare``) worth the flush.
/// - A write that succeeded on some mirrors and failed on others (without `handle_errors`)
///   leaves its region out of sync: resync repairs it.
///
/// `Write` is the owner's token for a write (its clone); the machine only keeps and returns it.
public struct RegionHash<Write> {
    /// A region's state, in dm-region-hash's words (`DM_RH_*`).
    public enum State: Equatable, Sendable {
        case clean, dirty, nosync, recovering
    }

    /// What the owner does.
    public enum Action {
        /// Issue the write to every live mirror; report its end with ``writeEnded(region:failedOnSome:)``.
        case writeAll(Write)
        /// Issue the write to the default mirror only; report its end with ``writeEnded(region:failedOnSome:)``.
        case writeDefault(Write)
        /// End the write with an error without issuing it: the log could not record its region
        /// as dirty.
        case failWrite(Write)
        /// Make the log durable with these regions marked dirty and these marked clean, as log
        /// generation `generation`; then report ``logFlushed(generation:)`` (or
        /// ``logFlushFailed(generation:)``). At most one flush is asked for at a time.
        case flushLog(generation: UInt64, dirty: [Int], clean: [Int])
        /// Copy the region from the default mirror to the others; then report
        /// ``copyEnded(region:success:)``. At most one copy per region at a time.
        case copy(region: Int)
    }

    /// Regions on the device.
    public let regionCount: Int
    /// Whether each region's mirrors hold the same data (dm-log's sync bits).
    private var inSync: [Bool]
    /// Writes in flight per region (issued, not yet ended).
    private var pending: [Int32]
    /// Regions dirty in memory; a region not in sync is always among them.
    private var dirty: Set<Int> = []
    /// For a region whose dirty mark is not durable yet: the log generation that carries it.
    private var markedIn: [Int: UInt64] = [:]
    /// Dirty marks and clean marks not yet sent in a flush.
    private var toMark: [Int] = []
    private var toClear: Set<Int> = []
    /// The last log generation asked for, and the last one the owner reported durable.
    private var generation: UInt64 = 0
    private var durable: UInt64 = 0
    /// Whether a flush has been asked for and not reported.
    private var flushing = false
    /// Writes waiting for the flush of their region's mark, with that flush's generation.
    private var waitingForLog: [(generation: UInt64, region: Int, write: Write)] = []
    /// Regions chosen for recovery (waiting for their writes to end, or being copied).
    private var recovering: Set<Int> = []
    private var copying: Set<Int> = []
    /// Writes that came to a recovering region, in arrival order.
    private var delayed: [Int: [Write]] = [:]
    /// Where the next recovery looks first (resync goes through the device in order).
    private var recoveryCursor = 0
    /// The clean pass each region was last written or copied in (``flushClean(idleOnly:)``).
    private var touchedInPass: [UInt32]
    private var cleanPass: UInt32 = 1

    /// - Parameters:
    ///   - regionCount: regions on the device.
    ///   - inSync: whether each region starts in sync (from the log: a region the log found
    ///     clean is in sync; `sync` makes every region out of sync, `nosync` every region in sync).
    public init(regionCount: Int, inSync: (Int) -> Bool) {
        precondition(regionCount > 0, "a mirror has at least one region")
        self.regionCount = regionCount
        self.inSync = (0..<regionCount).map(inSync)
        pending = Array(repeating: 0, count: regionCount)
        touchedInPass = Array(repeating: 0, count: regionCount)
        for region in 0..<regionCount where !self.inSync[region] { dirty.insert(region) }
    }

    /// The region's state now.
    public func state(_ region: Int) -> State {
        if recovering.contains(region) { return .recovering }
        if !inSync[region] { return .nosync }
        return dirty.contains(region) ? .dirty : .clean
    }

    /// Regions in sync (dm's `<in_sync_regions>`).
    public var inSyncCount: Int { inSync.count { $0 } }

    /// Whether a read of the region may be served by any in-sync mirror (the region is in sync
    /// and not being recovered); otherwise only the default mirror holds its data.
    public func anyMirrorMayRead(_ region: Int) -> Bool { inSync[region] && !recovering.contains(region) }

    /// Writes in flight to the region.
    public func pendingWrites(_ region: Int) -> Int { Int(pending[region]) }

    /// Whether a copy is running (presuspend waits for this to become false).
    public var isCopying: Bool { !copying.isEmpty }

    /// Writes the machine holds (waiting for a log flush or a recovery).
    public var heldWrites: Int { waitingForLog.count + delayed.values.reduce(0) { $0 + $1.count } }

    // MARK: Inputs

    /// A write to `region` (a clone within one region: the owner splits at region boundaries).
    public mutating func write(_ write: Write, region: Int) -> [Action] {
        if recovering.contains(region) {
            delayed[region, default: []].append(write)
            return []
        }
        pending[region] += 1
        touchedInPass[region] = cleanPass
        guard inSync[region] else { return [.writeDefault(write)] }
        if !dirty.contains(region) {
            dirty.insert(region)
            if toClear.remove(region) != nil {
                // Its clean mark was never sent: the log still says dirty, durably.
            } else {
                markedIn[region] = generation + 1
                toMark.append(region)
            }
        }
        guard let needed = markedIn[region], needed > durable else { return [.writeAll(write)] }
        waitingForLog.append((needed, region, write))
        return flushIfIdle()
    }

    /// A write to `region` that goes to the default mirror alone, without a token or an action:
    /// if the region is not in sync and not being recovered, the write counts as in flight
    /// (exactly as ``write(_:region:)`` would count it before answering
    /// ``Action/writeDefault(_:)``), the owner issues it to the default mirror itself and
    /// reports its end with ``writeEnded(region:failedOnSome:)``; otherwise nothing changes,
    /// the answer is `false`, and the owner goes through ``write(_:region:)``.
    public mutating func writeIfNotInSync(region: Int) -> Bool {
        guard !inSync[region], !recovering.contains(region) else { return false }
        pending[region] += 1
        touchedInPass[region] = cleanPass
        return true
    }

    /// A write issued by ``Action/writeAll(_:)`` or ``Action/writeDefault(_:)`` ended;
    /// `failedOnSome`: it failed on some mirror but not all (the region is then out of sync).
    public mutating func writeEnded(region: Int, failedOnSome: Bool) -> [Action] {
        precondition(pending[region] > 0, "a write ended that was not in flight")
        pending[region] -= 1
        if failedOnSome {
            inSync[region] = false
            dirty.insert(region)
        }
        return startCopyIfQuiet(region)
    }

    /// The flush of `generation` is durable: writes waiting for it are issued, and the next
    /// flush is asked for if marks are waiting.
    public mutating func logFlushed(generation flushed: UInt64) -> [Action] {
        precondition(flushing && flushed == generation, "a flush was reported that was not asked for")
        flushing = false
        durable = flushed
        for (region, needed) in markedIn where needed <= flushed { markedIn[region] = nil }
        var actions: [Action] = []
        waitingForLog.removeAll { waiting in
            guard waiting.generation <= flushed else { return false }
            actions.append(.writeAll(waiting.write))
            return true
        }
        return actions + flushIfIdle()
    }

    /// The flush of `generation` failed: the writes waiting for it fail (their regions could
    /// not be marked dirty), and its marks are asked for again with the next flush.
    public mutating func logFlushFailed(generation failed: UInt64) -> [Action] {
        precondition(flushing && failed == generation, "a flush was reported that was not asked for")
        flushing = false
        var actions: [Action] = []
        var retry = Set<Int>()
        waitingForLog.removeAll { waiting in
            guard waiting.generation <= failed else { return false }
            actions.append(.failWrite(waiting.write))
            pending[waiting.region] -= 1
            retry.insert(waiting.region)
            return true
        }
        for (region, needed) in markedIn where needed <= failed {
            // Still dirty in memory; its mark goes out with the next flush.
            markedIn[region] = generation + 1
            toMark.append(region)
        }
        for region in retry { actions += startCopyIfQuiet(region) }
        return actions
    }

    /// Chooses the next region that is not in sync and starts its recovery: a copy at once if
    /// no write is in flight to it, else when the last one ends. Returns `nil` when every
    /// region is in sync or being recovered.
    public mutating func startRecovery() -> [Action]? {
        guard let region = nextOutOfSync() else { return nil }
        recovering.insert(region)
        return startCopyIfQuiet(region)
    }

    /// The copy of `region` ended: on success the region is in sync (and dirty, until
    /// ``flushClean()``); either way the writes that waited for it are routed again.
    public mutating func copyEnded(region: Int, success: Bool) -> [Action] {
        precondition(copying.contains(region), "a copy ended that was not started")
        copying.remove(region)
        recovering.remove(region)
        touchedInPass[region] = cleanPass
        if success { inSync[region] = true }
        var actions: [Action] = []
        for waiting in delayed.removeValue(forKey: region) ?? [] { actions += write(waiting, region: region) }
        return actions
    }

    /// dm's lazy return to clean: regions in sync, dirty, with no write in flight and not
    /// being recovered are marked clean in one flush (asked for now, or after the flush in
    /// flight). With `idleOnly`, only those also not written or copied since the previous
    /// such pass: a region written all the time stays dirty instead of being cleaned and
    /// marked again between two of its writes (each pass starts a new period).
    public mutating func flushClean(idleOnly: Bool = false) -> [Action] {
        for region in dirty where mayClean(region, untouchedSince: idleOnly ? cleanPass : .max) {
            dirty.remove(region)
            toClear.insert(region)
        }
        if idleOnly { cleanPass &+= 1 }
        return flushIfIdle()
    }

    /// Regions chosen by ``beginCleanPass()``: the owner flushes the mirrors, then hands the
    /// pass to ``endCleanPass(_:)``.
    public struct CleanPass: Equatable, Sendable {
        /// The clean period that ended when the pass began.
        public let period: UInt32
        /// The regions idle then (in sync, dirty, no write in flight, none written or copied
        /// in that period), in order.
        public let regions: [Int]
    }

    /// The first step of a two-step clean pass: ends the current period (as
    /// ``flushClean(idleOnly:)`` does) and returns the regions that may be marked clean once
    /// the mirrors have been flushed, or `nil` (the owner flushes nothing) if there are none,
    /// or if they are fewer than 1/``cleanPassShare`` of the dirty regions in sync. Every write
    /// to them has ended, so a flush of the mirrors that starts after this call makes their
    /// data durable on every mirror.
    ///
    /// Why a share: the flush costs the same whatever the pass cleans, since it writes back
    /// every dirty page of the mirrors, and it costs most when writes come to the whole device,
    /// which is also when few regions are idle for a whole period. Measured on ext4 during a
    /// move under 4 KiB random writes: passes that cleaned 1 region of 2,048 flushed for
    /// 1.4-1.8 s, and held foreground writes at a third of their rate meanwhile. When writes
    /// stop or keep to part of the device, most dirty regions are idle and the pass goes ahead;
    /// a region skipped stays dirty (a restart resyncs it), as every region does under writes
    /// spread over the whole device.
    public mutating func beginCleanPass() -> CleanPass? {
        let period = cleanPass
        cleanPass &+= 1
        var candidates = 0
        var regions: [Int] = []
        for region in dirty where inSync[region] {
            candidates += 1
            if mayClean(region, untouchedSince: period) { regions.append(region) }
        }
        guard !regions.isEmpty, regions.count * Self.cleanPassShare >= candidates else { return nil }
        return CleanPass(period: period, regions: regions.sorted())
    }

    /// A two-step clean pass goes ahead when it would mark clean at least one in this many of
    /// the dirty regions in sync (``beginCleanPass()``).
    public static var cleanPassShare: Int { 4 }

    /// The second step, once the mirrors were flushed after ``beginCleanPass()``: the pass's
    /// regions that are still in sync and dirty with nothing in flight, and that no write or
    /// copy reached since the pass began, are marked clean in one log flush (asked for now, or
    /// after the flush in flight). A region written in between keeps its dirty mark: its new
    /// data may not be durable on every mirror.
    public mutating func endCleanPass(_ pass: CleanPass) -> [Action] {
        for region in pass.regions where dirty.contains(region) && mayClean(region, untouchedSince: pass.period) {
            dirty.remove(region)
            toClear.insert(region)
        }
        return flushIfIdle()
    }

    /// Takes back every write the machine holds, in the order they came per kind (the table is
    /// being destroyed): writes waiting for the log stop counting as in flight.
    public mutating func takeHeldWrites() -> [Write] {
        var writes = waitingForLog.map(\.write)
        for waiting in waitingForLog { pending[waiting.region] -= 1 }
        waitingForLog = []
        for region in delayed.keys.sorted() { writes += delayed[region] ?? [] }
        delayed = [:]
        return writes
    }

    // MARK: Private

    /// Whether a dirty region may be marked clean: in sync, no write in flight, not being
    /// recovered, no dirty mark on its way to the log, and not written or copied since the
    /// clean period `period` began (`.max`: whenever).
    private func mayClean(_ region: Int, untouchedSince period: UInt32) -> Bool {
        inSync[region] && pending[region] == 0 && !recovering.contains(region) && markedIn[region] == nil
            && touchedInPass[region] < period
    }

    private mutating func flushIfIdle() -> [Action] {
        guard !flushing, !toMark.isEmpty || !toClear.isEmpty else { return [] }
        generation += 1
        flushing = true
        let action = Action.flushLog(generation: generation, dirty: toMark, clean: toClear.sorted())
        toMark = []
        toClear = []
        return [action]
    }

    private mutating func startCopyIfQuiet(_ region: Int) -> [Action] {
        guard recovering.contains(region), !copying.contains(region), pending[region] == 0 else { return [] }
        copying.insert(region)
        return [.copy(region: region)]
    }

    private mutating func nextOutOfSync() -> Int? {
        for offset in 0..<regionCount {
            let region = (recoveryCursor + offset) % regionCount
            if !inSync[region] && !recovering.contains(region) {
                recoveryCursor = (region + 1) % regionCount
                return region
            }
        }
        return nil
    }
}

extension RegionHash: Sendable where Write: Sendable {}
extension RegionHash.Action: Sendable where Write: Sendable {}
extension RegionHash.Action: Equatable where Write: Equatable {}
