import Dispatch
import Synchronization

/// `mirror` (dm-raid1): the target's sectors on 2 to 8 devices at once. Writes go to every
/// mirror of a region in sync, once the region log says the region is dirty; reads go to the
/// default (first) mirror and retry on another in-sync one; background resync copies the
/// regions that are not in sync from the default mirror to the others. The order of writes,
/// log flushes and copies is ``RegionHash``'s; this class carries its actions out.
///
/// Logs: `core` keeps the region state in memory (a restart resyncs every region); `disk`
/// keeps it on a log device (``DiskRegionLog``), read at the first activation (preresume, at a
/// resume or at start-up), so a restart resyncs only the regions that may differ. Regions go
/// back to clean on disk lazily, ``cleanDelay`` or more after their last write, in passes
/// that flush the legs only when they clean a share of the dirty regions worth it
/// (``RegionHash/beginCleanPass()``).
///
/// Errors: without `handle_errors`, a write that failed on some legs and landed on others
/// succeeds and its region goes out of sync (resync repairs it). With it, the failing legs
/// are marked dead (`D` in the status, a `mirror.leg-failed` event), no longer written or
/// read, and the write is held until the table is replaced.
///
/// Lock order: the target's lock is never held while I/O is submitted or a clone ended.
public final class MirrorTarget: Target, @unchecked Sendable {
    public static let type = TargetType(name: "mirror", version: (1, 14, 0)) { context in
        MirrorTarget(context: context, arguments: try MirrorArguments(context: context))
    }

    struct State {
        var hash: RegionHash<Clone>
        /// Whether resync may start copies (false while suspended, and once every region is in sync).
        var resyncing = false
        /// Resumed and not suspending: lazy clean passes may run.
        var active = false
        /// Resync frozen by the `frozen` message (until `resync`).
        var frozen = false
        /// Recoveries started whose copies have not ended.
        var recoveries = 0
        /// Whether the legs resync writes have dropped their cached pages, or need not: set by
        /// the first write while a region is out of sync (``dropLegCaches()``), at the first
        /// resume with every region in sync, or when resync finds nothing left to copy.
        var legCachesDropped = false
        /// The end of resync was announced (`mirror.in-sync`) and no region fell out of sync
        /// since.
        var inSyncAnnounced = false
        /// Log commits asked for and not ended, and clean passes flushing the legs (a `disk`
        /// log).
        var commitsInFlight = 0
        /// How long the last clean pass's flush of the legs took.
        var legFlush = Duration.zero
        /// A clean pass is scheduled.
        var cleanScheduled = false
        /// Copies in flight at most when resync is not paced.
        static let maxRecoveries = 4

        /// How long a region stays dirty on disk after its last write (`nil`: until
        /// ``cleanNow()``).
        var cleanDelay: Duration? = MirrorTarget.cleanDelay
        /// The log was read (the first preresume).
        var loaded = false
        /// Waiting for the copy and the log commits in flight to end (suspends, tests).
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        /// The resync rate (`resync_rate` message; 0: unlimited).
        var pacer = ResyncPacer(bytesPerSecond: 0)
        /// Legs a write failed on, with `handle_errors` (dm's `D`): no longer written or read.
        var dead: Set<Int> = []
        /// What went wrong on each leg (the status's health characters).
        var health: [LegHealth]
        /// With `handle_errors`, writes that failed on a leg and landed on another, held until
        /// the table is replaced (dm-raid1 holds them for dmeventd): a noflush suspend hands
        /// them back to the core (pushback), any other suspend fails them.
        var held: [Clone] = []

        /// The idle waiters, once no copy and no log commit is in flight.
        mutating func takeIdleWaiters() -> [CheckedContinuation<Void, Never>] {
            guard recoveries == 0, commitsInFlight == 0, !idleWaiters.isEmpty else { return [] }
            defer { idleWaiters = [] }
            return idleWaiters
        }
    }

    let context: TargetContext
    let arguments: MirrorArguments
    let legs: [(device: any BlockNode, offset: UInt64)]
    /// Each leg's writer (``MirrorLegWriter``): where its writes run.
    let legWriters: [MirrorLegWriter]
    /// Every leg's index, in table order (``liveLegs`` while none is dead).
    private let allLegs: [Int]
    /// Whether writes to regions not in sync are remapped to the default mirror (leg 0, while
    /// no leg is dead) as `linear` remaps them, instead of going through ``issue(_:to:)``: not
    /// when that leg is a mapped device, which hands a write back (``Errno/requeue``) in a
    /// noflush suspend without the target's `endIO`, where the region hash must hear of it.
    private let defaultLegRemaps: Bool
    /// Where resync copies start (``MirrorCopy``), whoever asked for them: a file leg's copy
    /// reads and writes inline, and those calls wait on the disk (the kernel throttles the
    /// write-back that `RWF_DONTCACHE` starts), so they run on a thread of this queue's,
    /// neither on an event loop (a copy can start when the last write to its region ends, on
    /// the thread that ended it) nor on Swift concurrency's few threads. Serial: copies that
    /// resync starts side by side run one after another there (a concurrent queue, copies on
    /// up to four threads at once, measured worse for foreground writes during unlimited moves
    /// on ext4: 0.58-0.59 of alone in two runs, against 0.65-0.81 before).
    let copyQueue = DispatchQueue(label: "mapperd.mirror-resync")
    let regionSize: UInt64
    let regionCount: Int
    let state: Mutex<State>
    /// The `disk` log (`nil` for `core`).
    let log: DiskRegionLog?
    /// When the latest I/O mapped through the mirror started (monotonic nanoseconds): resync
    /// yields while it is recent (``ResyncPacer``). Relaxed: a hint, read by resync alone.
    let lastForeground = Atomic<Int64>(.min)

    /// Copies in flight at most when resync is not paced.
    static let maxRecoveries = 4

    /// How long a region stays dirty on disk after its last write (dm cleans at once; a delay
    /// spares a region written again soon a second commit).
    static let cleanDelay = Duration.milliseconds(500)

    /// The time between clean passes: ``cleanDelay``, or longer when the last pass's flush of
    /// the legs (which a clean mark waits for, so that a region marked clean holds the same
    /// data on every leg even after a power loss) took long: at most 1/20 of the time goes to
    /// those flushes, which write back every dirty page of the legs, foreground writes
    /// included (measured on ext4: a pass every half second took foreground writes during a
    /// move from 0.53 to 0.34 of their rate alone). At most ``maxCleanInterval``.
    static func cleanInterval(base: Duration, legFlush: Duration) -> Duration {
        min(max(base, legFlush * 20), max(base, maxCleanInterval))
    }

    /// The longest time between clean passes.
    static let maxCleanInterval = Duration.seconds(30)

    init(context: TargetContext, arguments: MirrorArguments) {
        self.context = context
        self.arguments = arguments
        log = arguments.logDevice.map { DiskRegionLog(device: $0.device, format: $0.format) }
        legs = arguments.legs
        allLegs = Array(arguments.legs.indices)
        defaultLegRemaps = arguments.legs.first.map { $0.device.kind != .device } ?? false
        legWriters = arguments.legs.map { MirrorLegWriter(name: $0.device.name, logger: context.engine.logger) }
        regionSize = arguments.regionSize
        let count = Int((context.length + arguments.regionSize - 1) / arguments.regionSize)
        regionCount = count
        let inSync = arguments.logSync == .nosync
        state = Mutex(
            State(
                hash: RegionHash(regionCount: count) { _ in inSync },
                health: Array(repeating: LegHealth(), count: arguments.legs.count)))
    }

    /// dm-raid1 sets `max_io_len` to the region size: a clone never spans two regions.
    public var maxIOSectors: UInt64? { regionSize }

    func region(of clone: Clone) -> Int { Int(clone.targetOffset / regionSize) }

    // MARK: I/O

    public func map(_ clone: Clone) -> MapResult {
        lastForeground.store(clone.bio.startedNanos, ordering: .relaxed)
        switch clone.op {
        case .read:
            let leg = legs[defaultLeg]
            return .remapped(leg.device, clone.request(to: leg.offset + clone.targetOffset))
        case .flush:
            let group = MirrorFlush(target: self, clone: clone, count: legs.count)
            for (index, leg) in legs.enumerated() {
                leg.device.submit(
                    BlockRequest(
                        op: .flush, sector: 0, sectors: 0, buffer: nil, bufferOffset: 0,
                        completion: MirrorLegEnd(group, leg: index)))
            }
            return .submitted
        default:
            let region = region(of: clone)
            let (direct, actions, dropCaches) = state.withLock { state in
                let direct = defaultLegRemaps && state.dead.isEmpty && state.hash.writeIfNotInSync(region: region)
                let actions = direct ? [] : state.hash.write(clone, region: region)
                guard !state.legCachesDropped else { return (direct, actions, false) }
                state.legCachesDropped = true
                return (direct, actions, true)
            }
            if dropCaches { dropLegCaches() }
            if direct {
                // The default mirror alone: remapped there as `linear` remaps, its end reported
                // by ``endIO(_:error:)``.
                let leg = legs[0]
                leg.device.submit(remapped: clone, to: leg.offset + clone.targetOffset)
            } else {
                carryOut(actions)
            }
            return .submitted
        }
    }

    /// On ``copyQueue`` (before the copies queued after it), the legs resync writes (the live
    /// ones after the default mirror) drop their clean cached pages over the mirrored range
    /// (``BlockDevice/dropCachedPages(sector:sectors:)``, a hint that changes no data). Those
    /// pages hold the legs' old bytes, which resync replaces, and they cost foreground writes:
    /// on ext4 a file written in large pieces is cached in large folios, and a 4 KiB `pwrite`
    /// into one walks all its blocks (11–12 µs against 2–3 µs into a page not cached, on the
    /// test machine), which a mirror in sync pays on each leg. Done once, at the first write
    /// while a region is out of sync: without foreground writes there is nothing to gain, and
    /// resync's own writes go faster into cached folios (a 1 GiB copy in 64 KiB `RWF_DONTCACHE`
    /// writes: 255 ms into a cached file, 629 ms into a dropped one). The default mirror's
    /// cache is the device's own and stays.
    func dropLegCaches() {
        let destinations = liveLegs.dropFirst().map { legs[$0] }
        let length = context.length
        copyQueue.async {
            for leg in destinations { leg.device.dropCachedPages(sector: leg.offset, sectors: length) }
        }
    }

    /// A read that failed on the default mirror is tried on the other live ones while its
    /// region is in sync (dm-raid1's read retry); dead legs are skipped.
    /// A write remapped by ``map(_:)`` (to the default mirror alone, its region not in sync)
    /// ends here too.
    public func endIO(_ clone: Clone, error: Errno?) -> EndIOResult {
        guard clone.op == .read else {
            remappedWriteEnded(clone, error: error)
            return .done
        }
        guard error != nil else { return .done }
        recordFailure(.read, on: defaultLeg)
        guard legs.count > 1 else { return .done }
        let region = region(of: clone)
        guard state.withLock({ $0.hash.anyMirrorMayRead(region) }) else { return .done }
        // The default mirror failed it; the other live ones are tried in table order.
        let read = MirrorRead(target: self, clone: clone, legs: Array(liveLegs.dropFirst()))
        return read.tryNext() ? .incomplete : .done
    }

    /// A write that ``map(_:)`` remapped to the default mirror (leg 0: no leg was dead) ended:
    /// the region hash is told, as for a write to one leg that ``issue(_:to:)`` sent, and the
    /// clone keeps the leg's result.
    private func remappedWriteEnded(_ clone: Clone, error: Errno?) {
        let region = region(of: clone)
        let actions = state.withLock { state in
            if error != nil { state.health[0].record(.write) }
            return state.hash.writeEnded(region: region, failedOnSome: false)
        }
        carryOut(actions)
        scheduleClean()
    }

    /// Records what went wrong on a leg (its status character).
    func recordFailure(_ failure: LegHealth.Failure, on leg: Int) {
        state.withLock { $0.health[leg].record(failure) }
    }

    /// The legs not dead, in table order.
    var liveLegs: [Int] {
        state.withLock { state in state.dead.isEmpty ? allLegs : legs.indices.filter { !state.dead.contains($0) } }
    }

    /// The default mirror: the first leg not dead (reads and resync copies come from it).
    var defaultLeg: Int { state.withLock { state in legs.indices.first { !state.dead.contains($0) } ?? 0 } }

    /// A write that all its mirrors answered: ends its clone (or, with `handle_errors` and a
    /// leg that failed, holds it) and tells the region hash.
    func writeEnded(_ clone: Clone, failedLegs: [Int], issued: Int, error: Errno?) {
        let region = region(of: clone)
        let failedOnSome = !failedLegs.isEmpty && failedLegs.count < issued
        let hold = failedOnSome && arguments.handleErrors
        let (actions, newlyDead) = state.withLock { state in
            for leg in failedLegs { state.health[leg].record(.write) }
            let newlyDead = hold ? failedLegs.filter { state.dead.insert($0).inserted } : []
            if hold { state.held.append(clone) }
            if failedOnSome && !hold && state.active {
                // The region fell out of sync: resync repairs it (dm's worker recovers it on
                // its next run).
                state.resyncing = true
                state.inSyncAnnounced = false
            }
            return (state.hash.writeEnded(region: region, failedOnSome: failedOnSome), newlyDead)
        }
        for leg in newlyDead {
            context.triggerEvent(
                kind: .mirrorLegFailed, path: legs[leg].device.name, detail: "write error \(error?.name ?? "EIO")")
        }
        if hold {
            clone.enteredTargetQueue()
        } else {
            clone.end(failedLegs.count == issued ? .error(error ?? .EIO) : .ok)
        }
        carryOut(actions)
        scheduleClean()
        if failedOnSome && !hold { pumpResyncLater() }
    }

    /// A write a stacked leg handed back while the device is in a noflush suspend: it is
    /// requeued to the core (re-issued through the next table), and its region falls out of
    /// sync, since the other legs may hold it and that one does not. Legs that failed it are
    /// recorded; whether one is dead is for the re-issued write to find.
    func writeHandedBack(_ clone: Clone, failedLegs: [Int]) {
        let actions = state.withLock { state in
            for leg in failedLegs { state.health[leg].record(.write) }
            return state.hash.writeEnded(region: region(of: clone), failedOnSome: true)
        }
        clone.end(.requeue)
        carryOut(actions)
    }

    /// Ends the held writes: pushed back to the core in a noflush suspend, failed otherwise.
    func releaseHeld(_ outcome: CloneOutcome) {
        let held = state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        for clone in held {
            clone.leftTargetQueue()
            clone.end(outcome)
        }
    }

    /// Carries out the region hash's actions, and the ones they lead to (a `core` log's flush
    /// is durable at once).
    func carryOut(_ actions: [RegionHash<Clone>.Action]) {
        var queue = actions[...]
        while let action = queue.popFirst() {
            switch action {
            case .writeAll(let clone):
                issue(clone, to: liveLegs)
            case .writeDefault(let clone):
                issue(clone, to: [defaultLeg])
            case .failWrite(let clone):
                clone.end(.error(.EIO))
            case .flushLog(let generation, let dirty, let clean):
                guard let log else {
                    queue.append(contentsOf: state.withLock { $0.hash.logFlushed(generation: generation) })
                    continue
                }
                state.withLock { $0.commitsInFlight += 1 }
                Task { [self] in
                    let ok = await log.commit(dirty: dirty, clean: clean)
                    let (actions, waiters) = state.withLock { state in
                        let actions =
                            ok
                            ? state.hash.logFlushed(generation: generation)
                            : state.hash.logFlushFailed(generation: generation)
                        state.commitsInFlight -= 1
                        return (actions, state.takeIdleWaiters())
                    }
                    if !ok {
                        context.triggerEvent(
                            kind: .mirrorLogFailed, path: log.device.name, detail: "region log commit failed")
                    }
                    carryOut(actions)
                    for waiter in waiters { waiter.resume() }
                }
            case .copy(let region):
                state.withLock { $0.pacer.copyStarts(now: MonotonicClock.now()) }
                let copy = MirrorCopy(target: self, region: region)
                copyQueue.async { copy.start() }
            }
        }
    }

    private func issue(_ clone: Clone, to indices: [Int]) {
        guard !indices.isEmpty else {
            // No live leg (not reached: a write failing on every leg kills none).
            writeEnded(clone, failedLegs: [], issued: 0, error: .EIO)
            return
        }
        let group = MirrorWrite(target: self, clone: clone, count: indices.count)
        let bio = clone.bio
        func request(_ index: Int, _ end: MirrorLegEnd) -> BlockRequest {
            BlockRequest(
                op: clone.op, sector: legs[index].offset + clone.targetOffset, sectors: clone.sectors,
                buffer: bio.buffer, bufferOffset: clone.bufferOffset, completion: end)
        }
        guard clone.op == .write else {
            for index in indices { legs[index].device.submit(request(index, MirrorLegEnd(group, leg: index))) }
            return
        }
        // A slow leg's writes on its own queue first (``MirrorLegWriter``), to run while this
        // thread writes the others.
        let queued = LegWritePlacement.plan(indices.map { legWriters[$0].placement })
        var inline: [(index: Int, request: BlockRequest, end: MirrorLegEnd)] = []
        for (index, queue) in zip(indices, queued) {
            let end = MirrorLegEnd(group, leg: index)
            let request = request(index, end)
            if queue {
                legWriters[index].queue(request, end: end, to: legs[index].device)
            } else {
                inline.append((index, request, end))
            }
        }
        for (index, request, end) in inline {
            legWriters[index].writeInline(request, end: end, to: legs[index].device)
        }
    }

    // MARK: Status

    /// dm-raid1's INFO line: `<#mirrors> <dev>... <in_sync>/<total> 1 <health>` and the log's
    /// part, `1 core` or `3 disk <log_dev> <A|D>`.
    public func status() -> String {
        let (inSync, health) = state.withLock { ($0.hash.inSyncCount, String($0.health.map(\.character))) }
        return "\(legs.count) " + legs.map(\.device.name).joined(separator: " ")
            + " \(inSync)/\(regionCount) 1 \(health) " + (log?.status ?? "1 core")
    }

    public func table() -> String {
        arguments.logTable + " \(legs.count) " + legs.map { "\($0.device.name) \($0.offset)" }.joined(separator: " ")
            + (arguments.handleErrors ? " 1 handle_errors" : "")
    }
}
