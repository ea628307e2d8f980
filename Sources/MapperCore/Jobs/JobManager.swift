import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Move jobs (`pvmove` for mapperd): makes them, answers for them, and runs each as a child
/// task of this swift-service-lifecycle `Service` (``MoveJobRunner``). Jobs made before the
/// service runs (restored at start-up, or made by a test) start when it does. At graceful
/// shutdown the runners stop between steps; a persisted job is taken up again at the next
/// start from its phase and its mirrors' region logs.
public final class JobManager: Service, Sendable {
    private struct State {
        var runners: [String: MoveJobRunner] = [:]
        var lastNumber = 0
        /// Runners not yet handed to the service's task group.
        var toStart: [MoveJobRunner] = []
    }

    private let manager: DeviceManager
    private let logs: MoveLogStorage
    private let nextNumber: @Sendable () async throws -> Int?
    private let coreLogs: Bool
    private let state = Mutex(State())
    private let wakeup = Wakeup()

    /// On a store shared by several hosts, `nextNumber` hands out the numbers of new jobs
    /// (`move-N`), so that no two hosts make the same id, and `coreLogs` gives new jobs'
    /// mirrors `core` logs (``MoveJob/coreLogs``): `logs` makes files only this host reaches,
    /// and another host that takes a device over must be able to load its table. When
    /// `nextNumber` returns `nil` (the store has one writer), jobs are numbered after the
    /// highest one this manager knows.
    public init(
        manager: DeviceManager, logs: MoveLogStorage,
        nextNumber: @escaping @Sendable () async throws -> Int? = { nil }, coreLogs: Bool = false
    ) {
        self.manager = manager
        self.logs = logs
        self.nextNumber = nextNumber
        self.coreLogs = coreLogs
        // A job finds its device and its holder devices by name, at every step and after a
        // restart: they keep their names until it ends.
        manager.addRenameCheck { [weak self] name in self?.mover(of: name).map { "'\(name)' is being moved by \($0)" } }
    }

    /// The job that moves the device `name` or holds a segment of it there: one not ended, or
    /// failed on the mirror (a cancel still returns the device to `from`).
    private func mover(of name: String) -> String? {
        state.withLock { state in
            state.runners.values.first { runner in
                let job = runner.job
                return (!job.machine.phase.isFinal || job.machine.onMirror)
                    && (job.device == name || runner.holderNames.contains(name))
            }?.id
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    for runner in self.state.withLock({ state in
                        defer { state.toStart = [] }
                        return state.toStart
                    }) {
                        group.addTask { await runner.run() }
                    }
                    await self.wakeup.wait(until: nil)
                }
                group.cancelAll()
            }
        }
    }

    // MARK: Jobs

    /// Starts moving `device`'s segments on `from` to `to` (from sector `toOffset` on).
    /// Errors: ENOENT for an unknown device; EINVAL for an unknown `from` or `to`; EBUSY when
    /// the device is suspended or another job moves it; EINVAL for a plan that cannot be made
    /// (``MovePlan``) or a `to` too small for the moved segments; the store's error (EIO) when
    /// it hands out job numbers and cannot.
    public func startMove(
        device name: String, from: String, to: String, toOffset: UInt64 = 0, regionSize: UInt64 = 1024,
        maxBytesPerSecond: UInt64 = 0
    ) async throws -> MoveJob {
        let device = try manager.device(named: name)
        for node in [from, to] where manager.node(named: node) == nil {
            // The request names it, not the URL: an invalid request, not a missing resource.
            throw MapperError(.EINVAL, "no backend, path or device named '\(node)'")
        }
        if device.info.suspended { throw MapperError(.EBUSY, "device '\(name)' is suspended") }
        guard let live = device.liveTable else { throw MapperError(.EINVAL, "device '\(name)' has no live table") }
        let storeNumber = try await nextNumber()
        let job = try state.withLock { state -> MoveJob in
            if let busy = state.runners.values.first(where: { $0.job.device == name && !$0.job.machine.phase.isFinal })
            {
                throw MapperError(.EBUSY, "device '\(name)' is being moved by \(busy.id)")
            }
            let number = storeNumber ?? state.lastNumber + 1
            let id = "move-\(number)"
            guard state.runners[id] == nil else { throw MapperError(.EEXIST, "a job named \(id) exists already") }
            let source = live.lines.map(\.text)
            var job = MoveJob(
                id: id, device: name, from: from, to: to, toOffset: toOffset, regionSize: regionSize, source: source,
                rate: maxBytesPerSecond, totalBytes: 0, started: Date(), coreLogs: coreLogs)
            let plan = try job.plan(pathBackend: pathBackend)
            let toSize = manager.node(named: to)?.sizeSectors ?? 0
            guard toOffset <= toSize, plan.sectors <= toSize - toOffset else {
                throw MapperError(
                    .EINVAL, "'\(to)' has \(toSize) sectors; the move needs \(plan.sectors) from sector \(toOffset)")
            }
            job = MoveJob(
                id: id, device: name, from: from, to: to, toOffset: toOffset, regionSize: regionSize, source: source,
                rate: maxBytesPerSecond, totalBytes: plan.sectors << 9, started: job.started, coreLogs: coreLogs)
            let runner = MoveJobRunner(job: job, plan: plan, manager: manager, logs: logs)
            state.lastNumber = max(state.lastNumber, number)
            state.runners[id] = runner
            return try runner.feed { $0.start() }
        }
        schedule(job.id)
        return job
    }

    /// Jobs made by an earlier run of the server, or by another host for a device this one
    /// claimed: each is taken up where it was. A job whose plan no longer builds is left out
    /// (logged as an error); one this manager has already is left as it is.
    public func restore(_ jobs: [MoveJob]) {
        for var job in jobs where state.withLock({ $0.runners[job.id] == nil }) {
            let plan: MovePlan
            do {
                plan = try job.plan(pathBackend: pathBackend)
            } catch {
                manager.engine.logger.error(
                    "move job not restored", metadata: ["job": "\(job.id)", "error": "\(error)"])
                continue
            }
            let number = Int(job.id.dropFirst("move-".count)) ?? 0
            job.bytesPerSecond = 0
            let runner = MoveJobRunner(job: job, plan: plan, manager: manager, logs: logs)
            _ = try? runner.feed { $0.restarted() }
            state.withLock { state in
                state.lastNumber = max(state.lastNumber, number)
                state.runners[job.id] = runner
            }
            schedule(job.id)
        }
    }

    /// Every job, oldest first.
    public var jobs: [MoveJob] {
        state.withLock { $0.runners.values.map(\.job) }.sorted { ($0.started, $0.id) < ($1.started, $1.id) }
    }

    /// The job `id`; ENOENT when there is none.
    public func job(_ id: String) throws -> MoveJob { try runner(id).job }

    /// Pauses the job's resync (``MoveJobMachine/pause()``); returns once the mirrors are
    /// frozen and the pause persisted (or, while starting, persisted for when they exist).
    public func pause(_ id: String) async throws -> MoveJob { try await runner(id).feedAndWait { try $0.pause() } }

    /// Resumes the job's resync (``MoveJobMachine/resume()``); returns once it is carried out.
    public func resume(_ id: String) async throws -> MoveJob { try await runner(id).feedAndWait { try $0.resume() } }

    /// Cancels the job: its device goes back to `from` (``MoveJobMachine/cancel()``). Returns
    /// at once; the phase events tell when it is done.
    public func cancel(_ id: String) throws -> MoveJob { try runner(id).feed { try $0.cancel() } }

    /// Sets the job's resync rate in bytes per second (0: unlimited); returns once it is
    /// carried out.
    public func throttle(_ id: String, maxBytesPerSecond: UInt64) async throws -> MoveJob {
        try await runner(id).feedAndWait { try $0.throttle(maxBytesPerSecond) }
    }

    // MARK: Private

    /// The backend a path leads to (``MovePlan``'s multipath segments).
    private func pathBackend(_ name: String) -> String? {
        (manager.node(named: name) as? Path)?.backend.name
    }

    private func runner(_ id: String) throws -> MoveJobRunner {
        guard let runner = state.withLock({ $0.runners[id] }) else { throw MapperError(.ENOENT, "no job '\(id)'") }
        return runner
    }

    private func schedule(_ id: String) {
        state.withLock { state in
            if let runner = state.runners[id] { state.toStart.append(runner) }
        }
        wakeup.wake()
    }
}
