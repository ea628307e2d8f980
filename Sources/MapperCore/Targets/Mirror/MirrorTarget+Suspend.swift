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

    public func resume() {
        state.withLock { state in
            state.resyncing = true
            state.active = true
        }
        pumpResyncLater()
    }

    /// Schedules the lazy clean pass of a `disk` log (``cleanInterval(base:legFlush:)`` from
    /// now), unless one is scheduled, the mirror is suspending or the delay is `nil`.
    func scheduleClean() {
        guard let log else { return }
        let base = state.withLock { state -> Duration? in
            guard state.active, !state.cleanScheduled, let delay = state.cleanDelay else { return nil }
            state.cleanScheduled = true
            return delay
        }
        guard let base else { return }
        let delay = Self.cleanInterval(base: base, legFlush: log.legFlushCost)
        Task { [self] in
            try? await Task.sleep(for: delay)
            cleanNow()
        }
    }

    /// Marks clean the regions in sync with no write in flight and none since the last pass
    /// (``RegionHash/flushClean(idleOnly:)``),
    /// unless the mirror is suspending (presuspend stops it; a suspended mirror's log stays as
    /// it is, dirty regions resyncing after a restart).
    func cleanNow() {
        let actions = state.withLock { state -> [RegionHash<Clone>.Action] in
            state.cleanScheduled = false
            guard state.active else { return [] }
            return state.hash.flushClean(idleOnly: true)
        }
        carryOut(actions)
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
