import Synchronization

/// Suspend, resume and the lazy clean passes of a `disk` log.
extension MirrorTarget {
    /// dm-raid1's presuspend: no new copy starts.
    public func presuspend() {
        state.withLock { state in
            state.resyncing = false
            state.active = false
            state.pacer.restart()
        }
        releaseHeld(context.isNoflushSuspending ? .requeue : .error(.EIO))
    }

    /// ... and the copy and log commits in flight end first (a copy that ended after a table
    /// swap could write old data over newer writes through the new table; a commit that ended
    /// after the next table read the log could undo its marks). A recovery chosen but waiting
    /// for its region's writes to end starts its copy when they do, and is waited for too; a
    /// commit a pending write needs ends before the suspend's drain does. The wait is
    /// announced as a `suspend.waiting` event, as the core announces its own.
    public func presuspendWait() async {
        await waitForIdle(announcing: true)
    }

    /// Returns once no resync copy and no log commit is in flight.
    func waitForIdle(announcing: Bool = false) async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                guard state.recoveries > 0 || state.commitsInFlight > 0 else { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if idle {
                continuation.resume()
            } else if announcing {
                context.triggerEvent(
                    kind: .suspendWaiting, detail: "waiting for the mirror's resync copy or log commit in flight")
            }
        }
    }

    /// dm-log's resume: the first activation reads the `disk` log (the region hash starts from
    /// it) and writes it back; every activation, start-up's included, restarts resync.
    public func preresume() async {
        if let log, !state.withLock({ $0.loaded }) {
            let (inSync, problem) = await log.load(sync: arguments.logSync)
            state.withLock { state in
                state.hash = RegionHash(regionCount: regionCount) { inSync[$0] }
                state.loaded = true
            }
            if log.failed {
                context.triggerEvent(kind: .mirrorLogFailed, path: log.device.name, detail: problem ?? "log failed")
            }
        }
        resume()
    }

    /// Restarts resync. At the first resume with every region in sync, the legs have nothing
    /// to drop from their caches (``dropLegCaches()``).
    public func resume() {
        state.withLock { state in
            state.resyncing = true
            state.active = true
            if !state.legCachesDropped && state.hash.inSyncCount == regionCount { state.legCachesDropped = true }
        }
        pumpResyncLater()
    }

    /// Schedules the lazy clean pass of a `disk` log (``cleanInterval(base:legFlush:)`` from
    /// now), unless one is scheduled or under way, the mirror is suspending or the delay is
    /// `nil`.
    func scheduleClean() {
        guard log != nil else { return }
        let delay = state.withLock { state -> Duration? in
            guard state.active, !state.cleanScheduled, let base = state.cleanDelay else { return nil }
            state.cleanScheduled = true
            return Self.cleanInterval(base: base, legFlush: state.legFlush)
        }
        guard let delay else { return }
        Task { [self] in
            try? await Task.sleep(for: delay)
            cleanNow()
        }
    }

    /// Marks clean the regions in sync with no write in flight and none since the last pass,
    /// unless the mirror is suspending (presuspend stops it; a suspended mirror's log stays as
    /// it is, dirty regions resyncing after a restart). With a `disk` log, in two steps
    /// (``RegionHash/beginCleanPass()``): the live legs are flushed first, so that a region is
    /// never clean on disk while its mirrors' equal data is still in a volatile cache, and only
    /// then are the regions that no write reached meanwhile marked. The flush does not hold the
    /// log: writes to clean regions get their dirty marks committed while it runs (a flush of
    /// two 1 GiB files full of dirty pages takes seconds on a disk, and writes that waited for
    /// it stalled foreground I/O during moves).
    func cleanNow() {
        guard log != nil else {
            let actions = state.withLock { state -> [RegionHash<Clone>.Action] in
                state.cleanScheduled = false
                guard state.active else { return [] }
                return state.hash.flushClean(idleOnly: true)
            }
            carryOut(actions)
            return
        }
        let pass = state.withLock { state -> RegionHash<Clone>.CleanPass? in
            guard state.active, let pass = state.hash.beginCleanPass() else {
                state.cleanScheduled = false
                return nil
            }
            // Counted as a commit: a suspend waits for the pass to end.
            state.commitsInFlight += 1
            return pass
        }
        guard let pass else { return }
        let live = liveLegs
        Task { [self] in
            let started = ContinuousClock.now
            let flushes = live.map { (leg: $0, io: AwaitedIO.start(.flush, on: legs[$0].device)) }
            var failed = false
            for flush in flushes where await flush.io.outcome() != nil {
                recordFailure(.flush, on: flush.leg)
                failed = true
            }
            let took = ContinuousClock.now - started
            let actions = state.withLock { state -> [RegionHash<Clone>.Action] in
                state.legFlush = took
                state.cleanScheduled = false
                guard state.active, !failed else { return [] }
                return state.hash.endCleanPass(pass)
            }
            // The commit it asks for counts before the pass stops counting: an idle waiter
            // never sees the gap between them.
            carryOut(actions)
            let waiters = state.withLock { state in
                state.commitsInFlight -= 1
                return state.takeIdleWaiters()
            }
            for waiter in waiters { waiter.resume() }
            // Regions written during the flush wait for the next pass, even if no write comes.
            scheduleClean()
        }
    }

    public func destroy() {
        let held = state.withLock { state -> [Clone] in
            state.resyncing = false
            state.active = false
            return state.hash.takeHeldWrites()
        }
        for clone in held { clone.end(.error(.EIO)) }
        releaseHeld(.error(.EIO))
    }

    /// Sets how long a region stays dirty after its last write (`nil`: until ``cleanNow()``).
    func setCleanDelay(_ delay: Duration?) { state.withLock { $0.cleanDelay = delay } }
}
