import Synchronization

/// Background resync: which regions are copied, when, and how many at once.
extension MirrorTarget {
    /// Starts the next recovery if resync runs and none is outstanding; announces the end of
    /// resync when every region is in sync.
    func pumpResync() {
        var actions: [RegionHash<Clone>.Action] = []
        let done = state.withLock { state -> Bool in
            guard state.resyncing, !state.frozen else { return false }
            // Unpaced and with no recent foreground I/O, a few regions are copied side by side
            // (the copies of one region are sequential: a read, then the writes); paced, or
            // yielding to foreground I/O, one at a time.
            let most = state.pacer.copiesAtOnce(
                idle: Self.maxRecoveries, now: MonotonicClock.now(),
                lastForeground: lastForeground.load(ordering: .relaxed))
            while state.recoveries < most {
                guard let started = state.hash.startRecovery() else {
                    guard state.recoveries == 0 else { return false }
                    state.resyncing = false
                    // Nothing left to copy: no leg's cache is stale any more.
                    state.legCachesDropped = true
                    state.pacer.restart()
                    defer { state.inSyncAnnounced = true }
                    return !state.inSyncAnnounced
                }
                state.recoveries += 1
                actions += started
            }
            return false
        }
        if done { context.triggerEvent(kind: .mirrorInSync, detail: "\(regionCount) regions") }
        carryOut(actions)
    }

    /// Resync's next step, on a task of its own: a copy's end never starts the next copy on
    /// its own stack (a backend that completes inline would otherwise copy the whole device
    /// in one call chain, inside whoever submitted the first copy).
    func pumpResyncLater(after delay: Int64 = 0) {
        Task { [self] in
            if delay > 0 { try? await Task.sleep(for: .nanoseconds(delay)) }
            pumpResync()
        }
    }

    /// A region's copy ended; it took `took` nanoseconds.
    func copyEnded(region: Int, success: Bool, took: Int64) {
        let (actions, waiters) = state.withLock { state in
            state.recoveries -= 1
            if !success { state.inSyncAnnounced = false }
            return (state.hash.copyEnded(region: region, success: success), state.takeIdleWaiters())
        }
        carryOut(actions)
        for waiter in waiters { waiter.resume() }
        scheduleClean()
        if success {
            let bytes = min(regionSize, context.length - UInt64(region) * regionSize) << 9
            let now = MonotonicClock.now()
            let last = lastForeground.load(ordering: .relaxed)
            let due = state.withLock { $0.pacer.copied(bytes, took: took, now: now, lastForeground: last) }
            // Paced, or yielding to foreground I/O, the next copy waits on a timer, not on a
            // thread.
            pumpResyncLater(after: due - now)
        } else {
            // Stop at a failing copy; the next resume tries again.
            state.withLock { $0.resyncing = false }
        }
    }
}
