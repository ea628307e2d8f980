import Synchronization

/// `mirror` (dm-raid1): the target's sectors on 2 to 8 devices at once. Writes go to every
/// mirror of a region in sync, once the region log says the region is dirty; reads go to the
/// default (first) mirror and retry on another in-sync one; background resync copies the
/// regions that are not in sync from the default mirror to the others. The order of writes,
/// log flushes and copies is ``RegionHash``'s; this class carries its actions out.
///
/// Work in progress: only the `core` log.
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
        /// Whether resync may start copies (false while suspended).
        var resyncing = false
        /// A recovery was started and its copy has not ended.
        var recoveryOutstanding = false
        /// Suspends waiting for that copy to end.
        var copyWaiters: [CheckedContinuation<Void, Never>] = []
        /// The resync rate (`resync_rate` message; 0: unlimited).
        var pacer = ResyncPacer(bytesPerSecond: 0)
        /// Legs a write failed on, with `handle_errors` (dm's `D`): no longer written or read.
        var dead: Set<Int> = []
        /// With `handle_errors`, writes that failed on a leg and landed on another, held until
        /// the table is replaced (dm-raid1 holds them for dmeventd): a noflush suspend hands
        /// them back to the core (pushback), any other suspend fails them.
        var held: [Clone] = []
    }

    let context: TargetContext
    let arguments: MirrorArguments
    let legs: [(device: any BlockNode, offset: UInt64)]
    let regionSize: UInt64
    let regionCount: Int
    let state: Mutex<State>

    init(context: TargetContext, arguments: MirrorArguments) {
        self.context = context
        self.arguments = arguments
        legs = arguments.legs
        regionSize = arguments.regionSize
        let count = Int((context.length + arguments.regionSize - 1) / arguments.regionSize)
        regionCount = count
        let inSync = arguments.logSync == .nosync
        state = Mutex(State(hash: RegionHash(regionCount: count) { _ in inSync }))
    }

    /// dm-raid1 sets `max_io_len` to the region size: a clone never spans two regions.
    public var maxIOSectors: UInt64? { regionSize }

    func region(of clone: Clone) -> Int { Int(clone.targetOffset / regionSize) }

    // MARK: I/O

    public func map(_ clone: Clone) -> MapResult {
        switch clone.op {
        case .read:
            let leg = legs[defaultLeg]
            return .remapped(leg.device, clone.request(to: leg.offset + clone.targetOffset))
        case .flush:
            let group = FlushGroup(clone: clone, count: legs.count)
            for leg in legs {
                leg.device.submit(
                    BlockRequest(op: .flush, sector: 0, sectors: 0, buffer: nil, bufferOffset: 0, completion: group))
            }
            return .submitted
        default:
            let region = region(of: clone)
            let actions = state.withLock { $0.hash.write(clone, region: region) }
            carryOut(actions)
            return .submitted
        }
    }

    /// A read that failed on the default mirror is tried on the next one while its region is
    /// in sync (dm-raid1's read retry).
    public func endIO(_ clone: Clone, error: Errno?) -> EndIOResult {
        guard clone.op == .read, error != nil, legs.count > 1 else { return .done }
        let region = region(of: clone)
        guard state.withLock({ $0.hash.anyMirrorMayRead(region) }) else { return .done }
        MirrorRead(target: self, clone: clone).tryLeg(1)
        return .incomplete
    }

    /// The legs not dead, in table order.
    var liveLegs: [Int] { state.withLock { state in legs.indices.filter { !state.dead.contains($0) } } }

    /// The default mirror: the first leg not dead (reads and resync copies come from it).
    var defaultLeg: Int { liveLegs.first ?? 0 }

    /// A write that all its mirrors answered: ends its clone (or, with `handle_errors` and a
    /// leg that failed, holds it) and tells the region hash.
    func writeEnded(_ clone: Clone, failedLegs: [Int], issued: Int, error: Errno?) {
        let region = region(of: clone)
        let failedOnSome = !failedLegs.isEmpty && failedLegs.count < issued
        let hold = failedOnSome && arguments.handleErrors
        let (actions, newlyDead) = state.withLock { state in
            let newlyDead = hold ? failedLegs.filter { state.dead.insert($0).inserted } : []
            if hold { state.held.append(clone) }
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
    }

    /// Ends the held writes: pushed back to the core in a noflush suspend, failed otherwise.
    private func releaseHeld(_ outcome: CloneOutcome) {
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
            case .flushLog(let generation, _, _):
                queue.append(contentsOf: state.withLock { $0.hash.logFlushed(generation: generation) })
            case .copy(let region):
                state.withLock { $0.pacer.copyStarts(now: MonotonicClock.now()) }
                MirrorCopy(target: self, region: region).start()
            }
        }
    }

    private func issue(_ clone: Clone, to indices: [Int]) {
        let group = MirrorWrite(target: self, clone: clone, count: indices.count)
        let bio = clone.bio
        for index in indices {
            let leg = legs[index]
            leg.device.submit(
                BlockRequest(
                    op: clone.op, sector: leg.offset + clone.targetOffset, sectors: clone.sectors, buffer: bio.buffer,
                    bufferOffset: clone.bufferOffset, completion: MirrorLegEnd(write: group, leg: index)))
        }
    }

    // MARK: Resync

    /// Starts the next recovery if resync runs and none is outstanding; announces the end of
    /// resync when every region is in sync.
    func pumpResync() {
        let (actions, done) = state.withLock { state -> ([RegionHash<Clone>.Action], Bool) in
            guard state.resyncing, !state.recoveryOutstanding else { return ([], false) }
            guard let actions = state.hash.startRecovery() else {
                state.resyncing = false
                state.pacer.restart()
                return ([], true)
            }
            state.recoveryOutstanding = true
            return (actions, false)
        }
        if done { context.triggerEvent(kind: .mirrorInSync, detail: "\(regionCount) regions") }
        carryOut(actions)
    }

    /// A region's copy ended.
    func copyEnded(region: Int, success: Bool) {
        let (actions, waiters) = state.withLock { state in
            state.recoveryOutstanding = false
            defer { state.copyWaiters = [] }
            return (state.hash.copyEnded(region: region, success: success), state.copyWaiters)
        }
        carryOut(actions)
        for waiter in waiters { waiter.resume() }
        if success {
            let bytes = min(regionSize, context.length - UInt64(region) * regionSize) << 9
            let now = MonotonicClock.now()
            let due = state.withLock { $0.pacer.copied(bytes, now: now) }
            guard due > now else {
                pumpResync()
                return
            }
            // Paced: the next copy waits on a timer, not on a thread.
            Task { [self] in
                try? await Task.sleep(for: .nanoseconds(due - now))
                pumpResync()
            }
        } else {
            // Stop at a failing copy; the next resume tries again.
            state.withLock { $0.resyncing = false }
        }
    }

    // MARK: Suspend and resume

    /// dm-raid1's presuspend: no new copy starts.
    public func presuspend() {
        state.withLock { state in
            state.resyncing = false
            state.pacer.restart()
        }
        releaseHeld(context.isNoflushSuspending ? .requeue : .error(.EIO))
    }

    /// ... and the copy in flight ends first (a copy that ended after a table swap could
    /// write old data over newer writes through the new table). A recovery chosen but waiting
    /// for its region's writes to end starts its copy when they do, and is waited for too.
    /// The wait is announced as a `suspend.waiting` event, as the core announces its own.
    public func presuspendWait() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                guard state.recoveryOutstanding else { return true }
                state.copyWaiters.append(continuation)
                return false
            }
            if idle {
                continuation.resume()
            } else {
                context.triggerEvent(kind: .suspendWaiting, detail: "waiting for the mirror's resync copy in flight")
            }
        }
    }

    public func resume() {
        state.withLock { $0.resyncing = true }
        pumpResync()
    }

    public func destroy() {
        let held = state.withLock { state -> [Clone] in
            state.resyncing = false
            return state.hash.takeHeldWrites()
        }
        for clone in held { clone.end(.error(.EIO)) }
        releaseHeld(.error(.EIO))
    }

    // MARK: Messages

    /// `resync_rate <bytes_per_second>`: paces resync (0: as fast as the mirrors go), from the
    /// next copy on. Not persisted with the table: a move job sets it again after a restart.
    public func message(_ argv: [String]) throws -> String {
        guard argv.count == 2, argv[0] == "resync_rate", let rate = UInt64(argv[1]) else {
            throw MapperError(.EINVAL, "mirror messages: resync_rate <bytes_per_second>")
        }
        state.withLock { $0.pacer.setRate(rate) }
        return ""
    }

    /// The resync rate in bytes per second (0: unlimited).
    public var resyncRate: UInt64 { state.withLock { $0.pacer.bytesPerSecond } }

    // MARK: Status

    /// dm-raid1's INFO line: `<#mirrors> <dev>... <in_sync>/<total> 1 <health> 1 core`.
    public func status() -> String {
        let (inSync, dead) = state.withLock { ($0.hash.inSyncCount, $0.dead) }
        let health = String(legs.indices.map { dead.contains($0) ? "D" : "A" })
        return "\(legs.count) " + legs.map(\.device.name).joined(separator: " ")
            + " \(inSync)/\(regionCount) 1 \(health) 1 core"
    }

    public func table() -> String {
        arguments.logTable + " \(legs.count) " + legs.map { "\($0.device.name) \($0.offset)" }.joined(separator: " ")
            + (arguments.handleErrors ? " 1 handle_errors" : "")
    }
}
