/// multipathd's `no_path_retry` (the device's ``NoPathRetry``), applied to this target the
/// way multipathd applies it: through the target's own `queue_if_no_path` switch.
///
/// - `retries(N)`: when the last path fails while queueing is on, a timer of N checker
///   intervals starts; when it runs out and there is still no path, queueing is turned off
///   (held clones end with EIO) and the target remembers that it did so; the next reinstated
///   path turns queueing back on. A path reinstated before then stops the timer.
/// - `fail`: queueing is off whatever the table says; `queue`: the table's value.
///
/// A noflush suspend keeps its pushback semantics: while the device is suspended the timer
/// does nothing (a pushed-back bio is never turned into an EIO by it); it starts again, in
/// full, at resume if there is still no path.
extension MultipathTarget {
    var noPathRetry: NoPathRetry { context.device?.noPathRetry ?? .queue }

    /// N × the shortest checker interval among the paths (the server default for unchecked ones).
    func retryDuration(_ count: Int) -> Duration {
        let interval = paths.compactMap { $0.checker?.interval }.min() ?? context.engine.defaultChecker.interval
        return interval * count
    }

    /// Starts the timer when the policy counts retries, no path is left and queueing is on.
    func armNoPathRetry() {
        guard case .retries(let count) = noPathRetry else { return }
        let generation = state.withLock { state -> Int? in
            guard state.validPathCount == 0, state.queueIfNoPath, !state.retryTimerRunning else { return nil }
            state.retryTimerRunning = true
            state.retryGeneration += 1
            return state.retryGeneration
        }
        guard let generation else { return }
        let duration = retryDuration(count)
        // Holds the target until the timer ends (a destroyed target's generation no longer
        // matches): a weak reference would give it a side table, and every retain of it on the
        // I/O path would take the slow way from then on.
        Task { [self] in
            try? await Task.sleep(for: duration)
            noPathRetryExpired(generation, count: count)
        }
    }

    /// Stops a running timer (a path came back, the policy changed, the target goes away).
    func disarmNoPathRetry() {
        state.withLock { state in
            state.retryGeneration += 1
            state.retryTimerRunning = false
        }
    }

    func noPathRetryExpired(_ generation: Int, count: Int) {
        let disable = state.withLock { state -> Bool in
            guard state.retryGeneration == generation else { return false }
            state.retryTimerRunning = false
            guard state.validPathCount == 0, state.queueIfNoPath else { return false }
            // A suspend's presuspend has turned queueing off already (pushback untouched), so
            // this is only reached while the device runs; resume starts the count again.
            guard !(context.device?.isSuspended ?? false), !context.isNoflushSuspending else { return false }
            state.disabledByRetry = true
            return true
        }
        guard disable else { return }
        context.triggerEvent(kind: .multipathQueueingDisabled, detail: "no_path_retry \(count) exhausted")
        setQueueIfNoPath(false, saveOld: false)
    }

    /// A path came back: stop the timer, and turn queueing on again if the timer turned it off.
    func noPathRetryPathReinstated() {
        disarmNoPathRetry()
        let restore = state.withLock { state -> Bool in
            guard state.disabledByRetry else { return false }
            state.disabledByRetry = false
            return true
        }
        guard restore else { return }
        setQueueIfNoPath(true, saveOld: false)
        context.triggerEvent(kind: .multipathQueueingRestored)
    }

    /// Applies the device's current policy: when it changes (not while suspended: resume
    /// applies it) and from the resume hook (`atResume`).
    func applyNoPathRetry(atResume: Bool = false) {
        guard atResume || !(context.device?.isSuspended ?? false) else { return }
        switch noPathRetry {
        case .fail:
            disarmNoPathRetry()
            if state.withLock({ $0.queueIfNoPath }) { setQueueIfNoPath(false, saveOld: false) }
        case .queue, .retries:
            disarmNoPathRetry()
            let restore = state.withLock { state -> Bool in
                let wanted = tableQueueIfNoPath || state.disabledByRetry
                state.disabledByRetry = false
                return wanted && !state.queueIfNoPath
            }
            if restore { setQueueIfNoPath(true, saveOld: false) }
            armNoPathRetry()
        }
    }
}
