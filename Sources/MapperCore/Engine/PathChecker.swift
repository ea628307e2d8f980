import Logging
import ServiceLifecycle
import Synchronization

/// multipathd's checker loop, as a swift-service-lifecycle `Service`: every path with a
/// ``CheckerConfig`` is checked every `intervalMs` (the first check right away) with
/// ``Path/check(timeout:)``. A failed or timed-out check fails an active path; a passing
/// check reinstates a failed path, whoever failed it. Either change reaches every multipath
/// target using the path, which bumps its device's event number.
///
/// One check per path at a time: a path whose check is still running (a stalled transport)
/// is not checked again until it ends. Checks run as child tasks; the loop itself only waits
/// (on a ``Wakeup`` with the next check's deadline), never on a thread, and does no I/O on
/// any event loop. Configuration changes wake it. Ends at graceful shutdown or cancellation.
public final class PathChecker: Service, Sendable {
    private let manager: DeviceManager
    private let logger: Logger
    private let running = Mutex<Set<ObjectIdentifier>>([])

    public init(manager: DeviceManager, logger: Logger) {
        self.manager = manager
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    private func loop() async {
        var due: [ObjectIdentifier: (config: CheckerConfig, at: ContinuousClock.Instant)] = [:]
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let now = ContinuousClock.now
                var next: ContinuousClock.Instant?
                var seen = Set<ObjectIdentifier>()
                for path in manager.paths {
                    guard let config = path.checker else { continue }
                    let id = ObjectIdentifier(path)
                    seen.insert(id)
                    // A new or changed configuration is checked at once.
                    let at = due[id].flatMap { $0.config == config ? $0.at : nil } ?? now
                    if at <= now {
                        let started = running.withLock { $0.insert(id).inserted }
                        if started {
                            due[id] = (config, now + config.interval)
                            group.addTask { await self.check(path, config) }
                        } else {
                            due[id] = (config, at)
                        }
                    } else {
                        due[id] = (config, at)
                    }
                    if let entry = due[id], entry.at > now { next = min(next ?? entry.at, entry.at) }
                }
                due = due.filter { seen.contains($0.key) }
                await manager.checkerWake.wait(until: next)
            }
        }
    }

    private func check(_ path: Path, _ config: CheckerConfig) async {
        defer {
            running.withLock { _ = $0.remove(ObjectIdentifier(path)) }
            manager.checkerWake.wake()
        }
        let error = await path.check(timeout: config.timeout)
        guard !Task.isCancelled, manager.node(named: path.name) === path, path.checker != nil else { return }
        if let error {
            if path.isActive {
                logger.notice("checker failed path", metadata: ["path": "\(path.name)", "error": "\(error)"])
                manager.engine.events.append(kind: .checkerFailed, path: path.name, detail: error.name)
                path.fail()
            }
        } else if !path.isActive {
            logger.notice("checker reinstated path", metadata: ["path": "\(path.name)"])
            manager.engine.events.append(kind: .checkerReinstated, path: path.name)
            path.reinstate()
        }
    }
}
