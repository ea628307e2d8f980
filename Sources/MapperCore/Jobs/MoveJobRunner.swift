import Foundation
import Synchronization

/// Carries out one move job: the only place its ``MoveJobMachine``'s actions run. Inputs
/// (operator requests, progress) are fed to the machine under the runner's lock and their
/// actions queued; ``run()`` takes them in order, one at a time, and feeds back how each table
/// swap ended. While the job syncs, the loop samples the mirrors' progress every
/// ``sampleInterval`` (and at once when an input or a mirror reaching sync wakes it).
///
/// Durability: a `persist` action is awaited before the next action runs, so a phase is on
/// disk before the swap it leads to starts; a restart repeats a swap that may have happened
/// (``MoveJobMachine/restarted()``) and finds it done.
final class MoveJobRunner: Sendable {
    static let sampleInterval = Duration.milliseconds(250)

    private struct State {
        var job: MoveJob
        var pending: [MoveJobMachine.Action] = []
        /// The last progress sample (time, bytes in sync) for the rate.
        var lastSample: (at: ContinuousClock.Instant, copied: UInt64)?
        /// Actions queued and carried out since the runner was made.
        var queued: UInt64 = 0
        var carried: UInt64 = 0
        /// Waiting for `carried` to reach a count.
        var carriedWaiters: [(count: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    }

    let id: String
    private let state: Mutex<State>
    private let wakeup = Wakeup()
    private let plan: MovePlan
    private let manager: DeviceManager
    private let logs: MoveLogStorage

    init(job: MoveJob, plan: MovePlan, manager: DeviceManager, logs: MoveLogStorage) {
        id = job.id
        state = Mutex(State(job: job))
        self.plan = plan
        self.manager = manager
        self.logs = logs
    }

    /// The devices the job makes to hold multipath segments (``MovePlan/Holder``).
    var holderNames: [String] { plan.segments.compactMap(\.holder?.name) }

    /// The job as it stands.
    var job: MoveJob { state.withLock { $0.job } }

    /// Feeds an input to the machine; its actions run in ``run()``. Throws what the input
    /// throws (the job unchanged).
    @discardableResult
    func feed(_ input: (inout MoveJobMachine) throws -> [MoveJobMachine.Action]) throws -> MoveJob {
        try feedCounting(input).job
    }

    /// Feeds an input as ``feed(_:)`` does and returns once its actions have been carried out
    /// (behind any queued before them), with the job as it then stands.
    func feedAndWait(_ input: (inout MoveJobMachine) throws -> [MoveJobMachine.Action]) async throws -> MoveJob {
        let count = try feedCounting(input).count
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                guard state.carried < count else { return true }
                state.carriedWaiters.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
        return job
    }

    private func feedCounting(_ input: (inout MoveJobMachine) throws -> [MoveJobMachine.Action]) throws -> (
        job: MoveJob, count: UInt64
    ) {
        let fed = try state.withLock { state in
            let actions = try input(&state.job.machine)
            state.pending += actions
            state.queued += UInt64(actions.count)
            if !actions.isEmpty { state.job.updated = Date() }
            return (state.job, state.queued)
        }
        wakeup.wake()
        return fed
    }

    /// Runs the job until it ends or the task is cancelled (server shutdown: the job is taken
    /// up again at the next start). A mirror of the device reaching sync (`mirror.in-sync`)
    /// wakes it at once: the job does not wait for its next sample to finish.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in await wakeOnSync() }
            await carryOutUntilEnded()
            group.cancelAll()
        }
    }

    /// Wakes the loop at each `mirror.in-sync` event of the job's device, until cancelled.
    private func wakeOnSync() async {
        let events = manager.engine.events
        var seen = events.lastSeq
        while let event = await events.first(.mirrorInSync, after: seen) {
            seen = event.seq
            if event.device == job.device { wakeup.wake() }
        }
    }

    private func carryOutUntilEnded() async {
        while !Task.isCancelled {
            while let action = state.withLock({ $0.pending.isEmpty ? nil : $0.pending.removeFirst() }) {
                await carryOut(action)
                let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                    state.carried += 1
                    let carried = state.carried
                    var due: [CheckedContinuation<Void, Never>] = []
                    state.carriedWaiters.removeAll { waiter in
                        guard waiter.count <= carried else { return false }
                        due.append(waiter.continuation)
                        return true
                    }
                    return due
                }
                for waiter in waiters { waiter.resume() }
            }
            let job = job
            if job.machine.phase.isFinal && state.withLock({ $0.pending.isEmpty }) {
                // No copy runs any more: the rate measured last means nothing now.
                state.withLock { $0.job.bytesPerSecond = 0 }
                return
            }
            if job.machine.phase == .syncing && job.machine.swapping == nil { sample() }
            if state.withLock({ !$0.pending.isEmpty }) { continue }
            await wakeup.wait(until: .now + Self.sampleInterval)
        }
    }

    // MARK: Actions

    private func carryOut(_ action: MoveJobMachine.Action) async {
        switch action {
        case .load(let kind):
            let error = await load(kind)
            // A swap cut short by the server stopping (its suspend interrupted) is no failure
            // of the job: its persisted phase repeats the swap at the next start.
            if error != nil && Task.isCancelled { return }
            _ = try? feed { $0.loaded(kind, error: error) }
        case .setRate(let rate):
            message(["resync_rate", "\(rate)"])
        case .freeze(let frozen):
            message([frozen ? "frozen" : "resync"])
        case .removeHelpers:
            // The device no longer maps onto its holders: nothing of its I/O is left in them
            // (its noflush suspend took back what they queued).
            for holder in plan.segments.compactMap(\.holder) where manager.node(named: holder.name) != nil {
                do {
                    try await manager.removeDevice(named: holder.name)
                } catch {
                    manager.engine.logger.warning(
                        "move job holder device not removed",
                        metadata: ["job": "\(id)", "device": "\(holder.name)", "error": "\(error)"])
                }
            }
            for log in plan.segments.compactMap(\.log) {
                do {
                    if manager.node(named: log) != nil { try await manager.removeBackend(named: log) }
                    try await logs.remove(log)
                } catch {
                    manager.engine.logger.warning(
                        "move job log not removed", metadata: ["job": "\(id)", "log": "\(log)", "error": "\(error)"])
                }
            }
        case .persist:
            do {
                try await manager.engine.store.record(.jobChanged(job))
            } catch {
                manager.engine.logger.error("move job not persisted", metadata: ["job": "\(id)", "error": "\(error)"])
            }
        case .announce(let phase):
            let job = job
            let why = job.machine.error.map { ": \($0)" } ?? ""
            manager.engine.events.append(
                kind: .jobPhase, device: job.device, path: job.id, detail: "\(job.id) \(phase.rawValue)\(why)")
        }
    }

    /// Swaps the device's table to `kind` through a noflush suspend (held I/O is pushed back
    /// and re-issued through the new table); returns why it failed. Before the destination
    /// table goes in, `to` is flushed, so that what was copied is durable there. A failed resume leaves the
    /// device on its old table, active again.
    private func load(_ kind: MoveJobMachine.TableKind) async -> String? {
        let lines: [TableLine]
        switch kind {
        case .mirrored: lines = plan.mirrored
        case .destination: lines = plan.destination
        case .source: lines = plan.source
        }
        do {
            let device = try manager.device(named: job.device)
            if let live = device.liveTable, live.lines.map(\.text) == lines.map(\.text), !device.info.suspended {
                return nil
            }
            if kind == .destination, let to = manager.node(named: job.to) {
                // The copies sit in `to`'s cache until flushed: durable before `from` is left.
                if let error = await AwaitedIO.start(.flush, on: to).outcome() {
                    throw MapperError(error, "flushing '\(job.to)' failed")
                }
            }
            if kind == .mirrored {
                for segment in plan.segments {
                    guard let log = segment.log, manager.node(named: log) == nil else { continue }
                    try await logs.create(log, segment.logSectors)
                }
                for holder in plan.segments.compactMap(\.holder) where manager.node(named: holder.name) == nil {
                    let made = try await manager.createDevice(name: holder.name, table: holder.table)
                    // Its multipath queues as the device's own did.
                    try await made.setNoPathRetry(device.noPathRetry)
                }
            }
            try await manager.load(device: job.device, lines: lines)
            if kind == .mirrored {
                // The rate and pause apply before resync starts at the resume.
                let machine = job.machine
                for instance in device.inactiveTable?.targets ?? [] {
                    guard let mirror = instance.target as? MirrorTarget else { continue }
                    _ = try? mirror.message(["resync_rate", "\(machine.rate)"])
                    if machine.paused { _ = try? mirror.message(["frozen"]) }
                }
            }
            do {
                try await device.resume(noflush: true)
            } catch {
                try? await manager.clear(device: job.device)
                try? await device.resume(noflush: true)
                throw error
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Sends a message to every mirror of the device's live table.
    private func message(_ argv: [String]) {
        for mirror in mirrors() { _ = try? mirror.target.message(argv) }
    }

    private func mirrors() -> [(target: MirrorTarget, length: UInt64)] {
        guard let table = try? manager.device(named: job.device).liveTable else { return [] }
        return table.targets.compactMap { instance in
            (instance.target as? MirrorTarget).map { ($0, instance.line.length) }
        }
    }

    /// Samples the mirrors: progress and rate into the job; `synced` or `legFailed` when due.
    private func sample() {
        let mirrors = mirrors()
        guard !mirrors.isEmpty else { return }
        var copied: UInt64 = 0
        var inSync = true
        var sourceDead = false
        var destinationDead = false
        for (target, length) in mirrors {
            let progress = target.progress
            copied += min(UInt64(progress.inSync) * plan.regionSize, length) << 9
            inSync = inSync && progress.inSync == progress.regions
            sourceDead = sourceDead || progress.deadLegs.contains(0)
            destinationDead = destinationDead || progress.deadLegs.contains(1)
        }
        let now = ContinuousClock.now
        state.withLock { state in
            if let last = state.lastSample, now > last.at, copied >= last.copied {
                let seconds =
                    Double((now - last.at).components.attoseconds) / 1e18 + Double((now - last.at).components.seconds)
                let rate = Double(copied - last.copied) / max(seconds, 1e-6)
                // An average over about a second of samples.
                state.job.bytesPerSecond = UInt64(0.75 * Double(state.job.bytesPerSecond) + 0.25 * rate)
            }
            state.lastSample = (now, copied)
            if copied != state.job.copiedBytes {
                state.job.copiedBytes = copied
                state.job.updated = Date()
            }
        }
        if destinationDead || sourceDead {
            _ = try? feed { $0.legFailed(source: sourceDead) }
        } else if inSync {
            _ = try? feed { $0.synced() }
        }
    }
}
