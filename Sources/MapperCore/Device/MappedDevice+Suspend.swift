/// Suspend and resume (SEMANTICS §4; dm's `dm_suspend` / `dm_resume` with noflush pushback).
extension MappedDevice {
    /// Suspends the device. Already suspended: success, no change.
    ///
    /// Steps, in order: set `noflushSuspending` (noflush only); targets' presuspend; failure
    /// point `suspend.after-presuspend`; set `blockIO`; wait until `pending == 0` or until
    /// `timeout` passes or the task is cancelled or ``cancelSuspend()`` is called; clear
    /// `noflushSuspending` and move `pushback` to the head of `deferred` in one locked step;
    /// then either (drained) postsuspend and mark suspended, or (interrupted) clear `blockIO`,
    /// re-issue `deferred` and throw EINTR with the device still active.
    ///
    /// - Parameters:
    ///   - noflush: hand queued I/O back to the core instead of failing it.
    ///   - nolockfs: recorded only (there is no filesystem to freeze); noflush implies it.
    ///   - timeout: how long to wait for in-flight I/O; `nil` waits as long as it takes.
    public func suspend(noflush: Bool = false, nolockfs: Bool = false, timeout: Duration? = nil) async throws {
        try await control.withLock {
            try await suspendLocked(noflush: noflush, nolockfs: nolockfs, timeout: timeout)
        }
        await engine.store.committed()
    }

    /// Interrupts a suspend that is waiting for in-flight I/O (it then fails with EINTR).
    /// Returns `false` when no suspend is in progress.
    @discardableResult
    public func cancelSuspend() -> Bool {
        let (suspending, waiters) = state.withLock { state -> (Bool, [WaiterList<Bool>.Continuation]) in
            guard state.suspending else { return (false, []) }
            state.suspendInterrupted = true
            return (true, state.suspendWaiters.takeAll())
        }
        waiters.resumeAll(returning: false)
        return suspending
    }

    /// The suspend steps; the caller holds the control lock.
    func suspendLocked(noflush: Bool, nolockfs: Bool, timeout: Duration?) async throws {
        let table = try state.withLock { state -> Table?? in
            if state.removed { throw MapperError(.ENODEV, "device was removed") }
            if state.suspended { return .none }
            // Step 1: visible before presuspend, where targets start handing back their queues.
            if noflush { state.noflushSuspending = true }
            state.nolockfs = nolockfs || noflush
            state.suspending = true
            state.suspendInterrupted = false
            return .some(state.live)
        }
        guard let table else { return }
        let deviceName = name
        // Step 2.
        for instance in table?.targets ?? [] { instance.target.presuspend() }
        // Step 3: the seed's bdget_disk failure point; step 8 undoes step 1.
        if let errno = engine.failurePoints.fire(FailurePoints.suspendAfterPresuspend) {
            state.withLock { state in
                state.suspending = false
                state.blockIO = true
                if noflush { endNoflushSuspending(&state) }
            }
            drainDeferred()
            let detail =
                "suspend failed after presuspend (\(errno.name)); pushed-back I/O re-issued; "
                + "presuspend is not undone: multipath queue_if_no_path stays off until a queue_if_no_path message"
            engine.events.append(kind: "suspend.failed", device: deviceName, detail: detail)
            throw MapperError(errno, detail)
        }
        // Step 4.
        let pending = state.withLock { state -> Int in
            state.blockIO = true
            return state.pending
        }
        // Step 5. A wait is announced (progress for the operator; tests wait for it).
        if pending > 0 {
            engine.events.append(
                kind: "suspend.waiting", device: deviceName,
                detail: "waiting for \(pending) bio(s) in flight\(noflush ? " (noflush)" : "")")
        }
        let woken = await waitForPendingIO(timeout: timeout)
        // Step 6 and the decision of step 7, in one locked step. Woken by the last bio, the
        // suspend has drained; interrupted, it has drained only if nothing is pending now (a
        // fast-path submitter backing out of the closed gate may count for a moment: the
        // interrupt then wins, as it would a moment earlier).
        let drained = state.withLock { state -> Bool in
            if noflush { endNoflushSuspending(&state) }
            if !woken && state.pending != 0 {
                state.suspending = false
                return false
            }
            return true
        }
        guard drained else {
            drainDeferred()
            let detail =
                "suspend interrupted with I/O still in flight; device stays active; "
                + "presuspend is not undone: multipath queue_if_no_path stays off until a queue_if_no_path message"
            engine.events.append(kind: "suspend.interrupted", device: deviceName, detail: detail)
            throw MapperError(.EINTR, detail)
        }
        for instance in table?.targets ?? [] { instance.target.postsuspend() }
        state.withLock { state in
            state.suspended = true
            state.suspending = false
        }
        engine.events.append(kind: "device.suspended", device: deviceName, detail: noflush ? "noflush" : "")
        persist(.deviceChanged(info))
    }

    /// Clears `noflushSuspending` and moves `pushback` to the head of `deferred`: pushed-back
    /// bios are older than those deferred during the suspend. Caller holds the lock.
    private func endNoflushSuspending(_ state: inout DeviceState) {
        state.noflushSuspending = false
        guard !state.pushback.isEmpty else { return }
        let moved = state.pushback
        state.pushback = []
        state.orderHead -= Int64(moved.count)
        for (offset, bio) in moved.enumerated() {
            engine.journal.bioDequeued(bio.id, device: state.name, location: .pushback)
            bio.setState(.deferred)
            journalQueued(bio, .deferred, order: state.orderHead + Int64(offset), &state)
        }
        state.deferred = moved + state.deferred
    }

    /// Waits until `pending == 0`, an interrupt, the timeout or cancellation of the task (the
    /// last two interrupt the suspend, as ``cancelSuspend()`` does). Returns whether it saw
    /// `pending == 0` (exactly once: see ``DeviceIOGate``).
    private func waitForPendingIO(timeout: Duration?) async -> Bool {
        let drained = await WaiterList<Bool>.wait(
            timeout: timeout,
            register: { continuation in
                state.withLock { state -> WaiterList<Bool>.Registration in
                    if state.pending == 0 { return .ready(true) }
                    if state.suspendInterrupted { return .ready(false) }
                    return state.suspendWaiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.suspendWaiters.remove(id) } })
        if drained == nil { cancelSuspend() }
        return drained == true
    }

    /// Resumes the device (SEMANTICS §3 resume).
    ///
    /// With a staged table: when not suspended, first suspends with this call's `noflush`;
    /// then swaps inactive→live (a failed swap leaves the device suspended with its I/O held);
    /// then resumes. Not suspended and nothing staged: success, no change. Suspended with no
    /// live table: EINVAL, stays suspended. Resuming runs the targets' resume hooks, clears
    /// `blockIO` and re-issues `deferred` in order through the live table.
    public func resume(noflush: Bool = false, nolockfs: Bool = false) async throws {
        try await control.withLock {
            try await resumeLocked(noflush: noflush, nolockfs: nolockfs)
        }
        await engine.store.committed()
    }

    func resumeLocked(noflush: Bool, nolockfs: Bool) async throws {
        let (staged, suspended) = try state.withLock { state -> (Bool, Bool) in
            if state.removed { throw MapperError(.ENODEV, "device was removed") }
            return (state.inactive != nil, state.suspended)
        }
        let deviceName = name
        if staged {
            if !suspended { try await suspendLocked(noflush: noflush, nolockfs: nolockfs, timeout: nil) }
            if let errno = engine.failurePoints.fire(FailurePoints.resumeSwap) {
                throw MapperError(errno, "table swap failed; device '\(deviceName)' stays suspended with its I/O held")
            }
            let (old, text) = state.withLock { state -> (Table?, String?) in
                let old = state.live
                state.live = state.inactive
                state.inactive = nil
                return (old, state.live?.text)
            }
            old?.destroy(holder: self)
            engine.events.append(kind: "table.swapped", device: deviceName)
            persist(.tableChanged(device: deviceName, slot: .live, text: text))
            persist(.tableChanged(device: deviceName, slot: .inactive, text: nil))
            persistTargetStates()
        } else if !suspended {
            return
        }
        guard let live = liveTable else {
            throw MapperError(.EINVAL, "device '\(deviceName)' has no live table to resume")
        }
        activate(live, runningResumeHooks: true)
        engine.events.append(kind: "device.resumed", device: deviceName, detail: noflush ? "noflush" : "")
        persist(.deviceChanged(info))
    }

    /// The end of every resume: the targets' resume hooks (unless `runningResumeHooks` is
    /// false), then the device is active and `deferred` is re-issued in order through `live`
    /// (`blockIO` stays set until a drain pass finds `deferred` empty).
    func activate(_ live: Table, runningResumeHooks: Bool) {
        if runningResumeHooks {
            for instance in live.targets { instance.target.resume() }
        }
        state.withLock { state in
            state.suspended = false
            state.blockIO = true
        }
        drainDeferred()
    }
}
