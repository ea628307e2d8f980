import Synchronization

/// The engine-wide count of held bytes (see ``QueueAdmission``), with waiters for room.
///
/// Devices add and remove a bio's bytes under their own lock as it starts and stops being
/// held (this type's lock is taken inside theirs, never the other way round). Every removal
/// bumps ``generation`` and wakes the waiters of ``waitForRoom(since:deadline:)``: an NBD
/// connection refused with `EAGAIN` waits there before it tries again, instead of answering
/// with an error.
///
/// ``generation`` is read before every NBD submission (so that a release between a refusal
/// and the wait is not missed): it is an atomic, written only when held bytes are released,
/// so that read takes no lock and writes no shared cache line. It is bumped under the lock,
/// before the waiters are taken, so a waiter that registers after reading an old generation
/// finds the new one under the same lock.
public final class HeldIO: Sendable {
    public let limits: QueueLimits

    private struct State {
        var bytes = 0
        var refused = 0
        var waiters = WaiterList<Void>()
    }

    private let state = Mutex(State())
    private let generationWord = Atomic<UInt64>(0)

    public init(limits: QueueLimits = .defaults) { self.limits = limits }

    /// Bytes held over all devices.
    public var bytes: Int { state.withLock { $0.bytes } }
    /// Bumped whenever held bytes are released (no lock).
    public var generation: UInt64 { generationWord.load(ordering: .acquiring) }
    /// New bios refused so far.
    public var refused: Int { state.withLock { $0.refused } }

    func add(_ bytes: Int) { state.withLock { $0.bytes += bytes } }

    func remove(_ bytes: Int) {
        let waiters = state.withLock { state -> [WaiterList<Void>.Continuation] in
            state.bytes -= bytes
            generationWord.wrappingAdd(1, ordering: .releasing)
            return state.waiters.takeAll()
        }
        waiters.resumeAll(returning: ())
    }

    func countRefusal() { state.withLock { $0.refused += 1 } }

    /// Returns once held bytes have been released since `generation` (at once if they already
    /// have), or `false` when `deadline` passes or the task is cancelled first.
    @discardableResult
    public func waitForRoom(since generation: UInt64, deadline: ContinuousClock.Instant? = nil) async -> Bool {
        await WaiterList<Void>.wait(
            deadline: deadline,
            register: { continuation in
                state.withLock { state -> WaiterList<Void>.Registration in
                    if generationWord.load(ordering: .relaxed) != generation { return .ready(()) }
                    return state.waiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.waiters.remove(id) } }) != nil
    }
}
