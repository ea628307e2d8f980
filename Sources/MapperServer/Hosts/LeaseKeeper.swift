import Logging
import MapperCore
import MapperStore
import ServiceLifecycle
import Synchronization

/// Keeps this host's lease on a shared store, as a service of the server's group: feeds
/// ``HostLease`` the time and each renewal's outcome, and carries out its actions: renew,
/// fence every device (I/O held, not failed), lift the fence. A renewal that takes longer
/// than the renewal interval is given up (its connection closed) and counts as failed.
/// With automatic takeover, after each renewal it claims the devices of hosts whose lease
/// ran out plus the grace.
public final class LeaseKeeper: Service, Sendable {
    private let ownership: any HostOwnership
    private let manager: DeviceManager
    private let logger: Logger
    private let lease: Mutex<HostLease>
    private let takeover = Mutex<(@Sendable () async -> Void)?>(nil)

    /// `acquiredAt`: when the lease taken at start-up was sent.
    public init(
        ownership: any HostOwnership, manager: DeviceManager, acquiredAt: ContinuousClock.Instant, logger: Logger
    ) {
        self.ownership = ownership
        self.manager = manager
        self.logger = logger
        lease = Mutex(HostLease(timing: ownership.timing, acquiredAt: acquiredAt))
    }

    /// Runs `takeover` after every successful renewal (`--takeover auto`).
    public func setTakeover(_ takeover: @escaping @Sendable () async -> Void) {
        self.takeover.withLock { $0 = takeover }
    }

    /// Whether this host holds its I/O because its lease may have run out.
    public var isFenced: Bool { lease.withLock { $0.fenced } }

    /// The lease's state (for `GET /v1/hosts`).
    public var state: HostLease { lease.withLock { $0 } }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    private func loop() async {
        let tick = ownership.timing.tick
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let actions = lease.withLock { $0.tick(now: .now) }
                for action in actions {
                    switch action {
                    case .renew: group.addTask { await self.renew() }
                    case .fence: fence()
                    case .unfence: unfence()
                    }
                }
                try? await Task.sleep(for: tick)
            }
        }
    }

    private func fence() {
        logger.error(
            "lease not renewed in time: holding I/O on every device until the store answers",
            metadata: ["host": "\(ownership.hostID)"])
        manager.setFenced(true)
    }

    private func unfence() {
        logger.notice("lease renewed: I/O flows again", metadata: ["host": "\(ownership.hostID)"])
        manager.setFenced(false)
    }

    private func renew() async {
        let timeout = ownership.timing.renewEvery
        let ownership = self.ownership
        let outcome = await withTaskGroup(of: Result<[String], any Error>?.self) { group in
            group.addTask {
                do {
                    return .success(try await ownership.renew())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { ownership.abandonRenewal() }
            group.cancelAll()
            return first
        }
        switch outcome {
        case .success(let lost):
            // Lost devices were reported to the lost-device handler, which drops them; the
            // fence lifts only after that check.
            let actions = lease.withLock { $0.renewed(now: .now) }
            if !lost.isEmpty {
                logger.error("devices claimed by another host", metadata: ["devices": "\(lost.sorted())"])
            }
            if actions.contains(.unfence) { unfence() }
            await takeover.withLock({ $0 })?()
        case .failure(let error):
            lease.withLock { $0.renewalFailed() }
            logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
        case nil:
            lease.withLock { $0.renewalFailed() }
            logger.warning("lease renewal timed out", metadata: ["after": "\(timeout)"])
        }
    }
}
