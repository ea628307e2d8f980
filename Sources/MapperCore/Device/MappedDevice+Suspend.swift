/// Suspend and resume (SEMANTICS §4; dm's `dm_suspend` / `dm_resume` with noflush pushback):
/// the ordering is ``DeviceStateMachine``'s; this file carries out its actions.
extension MappedDevice {
    /// Suspends the device. Already suspended: success, no change.
    ///
    /// Steps, in order (``DeviceStateMachine``): set `noflushSuspending` (noflush only);
    /// targets' presuspend; failure point `suspend.after-presuspend`; set `blockIO`; wait until
    /// `pending == 0` or until `timeout` passes or the task is cancelled or
    /// ``cancelSuspend()`` is called; clear `noflushSuspending` and move `pushback` to the head
    /// of `deferred` in one locked step; then either (drained) postsuspend and mark suspended,
    /// or (interrupted) re-issue `deferred` and throw EINTR with the device still active.
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
            guard state.apply({ $0.interruptSuspend() }) else { return (false, []) }
            return (true, state.suspendWaiters.takeAll())
        }
        waiters.resumeAll(returning: false)
        return suspending
    }

    /// The suspend steps; the caller holds the control lock.
    func suspendLocked(noflush: Bool, nolockfs: Bool, timeout: Duration?) async throws {
        let actions = try update(refusable: { try $0.suspend(noflush: noflush, nolockfs: nolockfs) })
        try await carryOut(actions, Step(noflush: noflush, nolockfs: nolockfs, timeout: timeout))
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
        let actions = try update(refusable: { try $0.resume(noflush: noflush) })
        try await carryOut(actions, Step(noflush: noflush, nolockfs: nolockfs, timeout: nil))
    }

    /// What the operation that fed the machine was asked: the steps it returns need it.
    struct Step {
        var noflush = false
        var nolockfs = false
        var timeout: Duration?
        /// The table a load put in the inactive slot (for its event).
        var loaded: Table?
    }

    /// Carries out the machine's actions in order, outside the state lock. A step action
    /// (presuspend, the wait, postsuspend, suspend-first, swap) feeds the machine its next
    /// input, whose actions come next. A `fail` action throws once everything before it is
    /// done; so does a step that throws (its state is unchanged). The caller holds the control
    /// lock for suspend, resume, removal and start-up.
    func carryOut(_ actions: [DeviceState.Machine.Action], _ step: Step) async throws {
        var queue = actions[...]
        var failure: MapperError?
        while let action = queue.popFirst() {
            switch action {
            case .presuspend(let table):
                // I/O this device sent to stacked devices and that waits there (a multipath
                // with no path) comes back first, to be pushed back here.
                if step.noflush {
                    for case let lower as MappedDevice in table?.referencedNodes ?? [] {
                        lower.holderNoflushSuspending()
                    }
                }
                for instance in table?.targets ?? [] { instance.target.presuspend() }
                for instance in table?.targets ?? [] { await instance.target.presuspendWait() }
                let errno = engine.failurePoints.fire(FailurePoints.suspendAfterPresuspend)
                queue.append(contentsOf: update { $0.presuspendDone(failurePoint: errno) })
            case .waitForPending:
                let pending = state.withLock { $0.pending }
                // A wait is announced (progress for the operator; tests wait for it).
                if pending > 0 {
                    engine.events.append(
                        kind: .suspendWaiting, device: name,
                        detail: "waiting for \(pending) bio(s) in flight\(step.noflush ? " (noflush)" : "")")
                }
                let woken = await waitForPendingIO(timeout: step.timeout)
                // Interrupted, the suspend has drained only if nothing is pending now (a fast
                // submitter backing out of the closed gate may count for a moment: the
                // interrupt then wins, as it would a moment earlier).
                queue.append(
                    contentsOf: state.withLock { state in
                        let pendingNow = state.pending
                        return state.apply { $0.pendingWaitEnded(drained: woken, pendingNow: pendingNow) }
                    })
            case .postsuspend(let table):
                for instance in table?.targets ?? [] { instance.target.postsuspend() }
                queue.append(contentsOf: update { $0.postsuspendDone() })
            case .suspendFirst:
                try await suspendLocked(noflush: step.noflush, nolockfs: step.nolockfs, timeout: nil)
                queue.append(contentsOf: try update(refusable: { try $0.resume(noflush: step.noflush) }))
            case .swap:
                let errno = engine.failurePoints.fire(FailurePoints.resumeSwap)
                queue.append(
                    contentsOf: try update(refusable: { try $0.swap(failurePoint: errno, noflush: step.noflush) }))
            case .presuspendForRemoval(let table):
                for instance in table.targets { instance.target.presuspend() }
                for instance in table.targets { await instance.target.presuspendWait() }
            case .preresumeHooks(let table):
                for instance in table.targets { await instance.target.preresume() }
            case .resumeHooks(let table):
                for instance in table.targets { instance.target.resume() }
            case .movedToDeferred(let bios, let firstOrder):
                state.withLock { state in
                    for (offset, bio) in bios.enumerated() {
                        engine.journal.bioDequeued(bio.id, device: state.name, location: .pushback)
                        bio.setState(.deferred)
                        journalQueued(bio, .deferred, order: firstOrder + Int64(offset), &state)
                    }
                }
            case .reissueDeferred:
                drainDeferred()
            case .endHeld(let pushback, let deferred, let errno):
                endHeld(pushback: pushback, deferred: deferred, errno)
            case .revokeExternalOpens:
                holders.revokeExternal()
            case .destroy(let table):
                table.destroy(holder: self)
            case .wakeEventWaiters:
                let (number, waiters) = state.withLock { ($0.eventNr, $0.eventWaiters.takeAll()) }
                for waiter in waiters { waiter.resume(returning: number) }
            case .keepAliveUntilDrained:
                break  // Done in the locked step that returned it (``tearDown(force:)``).
            case .persist(let record):
                try await persist(record)
            case .emit(let event):
                announce(event, step)
            case .fail(let errno, let message):
                failure = MapperError(errno, message)
            }
        }
        if let failure { throw failure }
    }

    private func persist(_ record: DeviceState.Machine.Record) async throws {
        switch record {
        case .device:
            persist(.deviceChanged(info))
        case .inactiveTable:
            try await engine.store.record(.tableChanged(device: name, slot: .inactive, text: inactiveTable?.text))
        case .swappedTables:
            persist(.tableChanged(device: name, slot: .live, text: liveTable?.text))
            persist(.tableChanged(device: name, slot: .inactive, text: nil))
            persistTargetStates()
        }
    }

    private func announce(_ event: DeviceState.Machine.Event, _ step: Step) {
        let (kind, detail): (EngineEvent.Kind, String)
        switch event {
        case .tableLoaded: (kind, detail) = (.tableLoaded, "\(step.loaded?.targets.count ?? 0) targets")
        case .tableCleared: (kind, detail) = (.tableCleared, "")
        case .tableSwapped: (kind, detail) = (.tableSwapped, "")
        case .suspendFailed(let message): (kind, detail) = (.suspendFailed, message)
        case .suspendInterrupted(let message): (kind, detail) = (.suspendInterrupted, message)
        case .suspended(let noflush): (kind, detail) = (.deviceSuspended, noflush ? "noflush" : "")
        case .resumed(let noflush): (kind, detail) = (.deviceResumed, noflush ? "noflush" : "")
        }
        engine.events.append(kind: kind, device: name, detail: detail)
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
                    if state.machine.suspendInterrupted { return .ready(false) }
                    return state.suspendWaiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.suspendWaiters.remove(id) } })
        if drained == nil { cancelSuspend() }
        return drained == true
    }
}
