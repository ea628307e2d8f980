import Dispatch
import Foundation
import Synchronization

/// A named route to a backend, like one SCSI path to a LUN (SEMANTICS §1, §6).
///
/// A path has a dm state (active or failed, with a fail count), global to the path: every
/// multipath target that uses it sees the same state and is told of changes through
/// ``PathStateObserver``. Its I/O goes through its ``transport`` (the backend's file, or a
/// connection of its own to a remote export), under a ``FaultMode`` layered on top: `none`
/// passes I/O to the transport, `error` fails it, `stall` parks it until the mode changes,
/// `delay` runs it after a delay on a timer thread. Changing the fault mode never changes the
/// dm state; the path checker (``checker``, run by ``PathChecker``) does, from the results of
/// ``check(timeout:)``.
public final class Path: BlockNode {
    public let name: String
    public let backend: any Backend
    public let transport: any PathTransport
    public let holders = Holders()
    public var kind: BlockNodeKind { .path }
    public var sizeSectors: UInt64 { backend.sizeSectors }

    private struct State {
        var active = true
        var failCount = 0
        var fault = FaultMode.none
        var stalled: [BlockRequest] = []
        /// Held strongly (a weak reference would move every retain of the observer to the slow
        /// side-table path); observers unregister in their `destroy`.
        var observers: [ObjectIdentifier: any PathStateObserver] = [:]
        var checker: CheckerConfig?
        var lastCheck: CheckResult?
    }

    private let state = Mutex(State())
    /// Mirror of `State.active` for lock-free reads on the I/O path (written under the lock).
    private let activeFlag = Atomic<Bool>(true)
    /// Whether the fault mode is `none`, for a lock-free fast path (written under the lock).
    /// An I/O that reads `true` just before a mode change proceeds as if submitted before it.
    private let transparent = Atomic<Bool>(true)

    /// A path to `backend` over `transport` (from ``Backend/makePathTransport(uri:)``),
    /// checked when `checker` is given.
    public init(name: String, backend: any Backend, transport: any PathTransport, checker: CheckerConfig? = nil) {
        self.name = name
        self.backend = backend
        self.transport = transport
        self.state.withLock { $0.checker = checker }
        // Held strongly, not weakly: a weak reference would give the path a side table, and
        // every retain of it on the I/O path (multipath's choice) would take the slow way.
        // The transport lets the handler go at ``PathTransport/close()``, which removing the
        // path (and shutting down) always does.
        self.transport.onDisconnect { [self] in self.fail() }
    }

    /// Whether the dm state is active.
    public var isActive: Bool { activeFlag.load(ordering: .acquiring) }
    public var failCount: Int { state.withLock { $0.failCount } }
    public var fault: FaultMode { state.withLock { $0.fault } }
    /// Requests parked by a stall.
    public var stalledCount: Int { state.withLock { $0.stalled.count } }

    public func submit(_ request: BlockRequest) {
        if transparent.load(ordering: .acquiring) {
            transport.submit(request)
            return
        }
        let mode = state.withLock { state -> FaultMode in
            if case .stall = state.fault { state.stalled.append(request) }
            return state.fault
        }
        run(request, under: mode)
    }

    /// Without a fault, hands the clone to the transport as it is (see
    /// ``BlockDevice/submit(remapped:to:)``); otherwise builds its request.
    public func submit(remapped clone: Clone, to sector: UInt64) {
        if transparent.load(ordering: .acquiring) {
            transport.submit(remapped: clone, to: sector)
            return
        }
        submit(clone.request(to: sector))
    }

    private func run(_ request: BlockRequest, under mode: FaultMode) {
        switch mode {
        case .none:
            transport.submit(request)
        case .error:
            request.endIO(.EIO)
        case .stall:
            break
        case .delay(let ms):
            let transport = self.transport
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) {
                transport.submit(request)
            }
        }
    }

    /// Sets the transport's fault mode; stalled I/O proceeds under a mode other than stall.
    public func setFault(_ mode: FaultMode) {
        let released = state.withLock { state -> [BlockRequest] in
            state.fault = mode
            transparent.store(mode == .none, ordering: .releasing)
            if case .stall = mode { return [] }
            defer { state.stalled = [] }
            return state.stalled
        }
        for request in released { run(request, under: mode) }
    }

    /// Marks the path failed (dm's `fail_path`). Returns `false` if it already was.
    /// Observers are told after the change, outside the path's lock.
    @discardableResult
    public func fail() -> Bool {
        let observers = state.withLock { state -> [any PathStateObserver]? in
            guard state.active else { return nil }
            state.active = false
            activeFlag.store(false, ordering: .releasing)
            state.failCount += 1
            return Array(state.observers.values)
        }
        guard let observers else { return false }
        for observer in observers { observer.pathFailed(self) }
        return true
    }

    /// Marks the path active (dm's `reinstate_path`). Returns `false` if it already was.
    @discardableResult
    public func reinstate() -> Bool {
        let observers = state.withLock { state -> [any PathStateObserver]? in
            guard !state.active else { return nil }
            state.active = true
            activeFlag.store(true, ordering: .releasing)
            return Array(state.observers.values)
        }
        guard let observers else { return false }
        for observer in observers { observer.pathReinstated(self) }
        return true
    }

    /// Restores a persisted dm state without telling observers (start-up).
    public func restore(active: Bool, failCount: Int) {
        state.withLock {
            $0.active = active
            $0.failCount = failCount
            activeFlag.store(active, ordering: .releasing)
        }
    }

    /// Registers a target to be told of state changes, until ``removeObserver(_:)``.
    public func addObserver(_ observer: any PathStateObserver) {
        state.withLock { $0.observers[ObjectIdentifier(observer)] = observer }
    }

    public func removeObserver(_ observer: any PathStateObserver) {
        state.withLock { _ = $0.observers.removeValue(forKey: ObjectIdentifier(observer)) }
    }

    // MARK: Checker

    /// The checker's configuration (`nil`: not checked).
    public var checker: CheckerConfig? { state.withLock { $0.checker } }
    /// The last check's result, if any.
    public var lastCheck: CheckResult? { state.withLock { $0.lastCheck } }

    /// Sets or clears the checker configuration (the ``PathChecker`` picks it up at once).
    public func setChecker(_ config: CheckerConfig?) {
        state.withLock {
            $0.checker = config
            if config == nil { $0.lastCheck = nil }
        }
    }

    /// multipathd's `directio` check: connects the transport if it is down, then reads one
    /// 4 KiB block (or the whole path, if smaller) from sector 0 through the fault mode, as
    /// I/O does, but never through the dm state and never failing the path itself. Returns
    /// `nil` when the read succeeded within `timeout`, else the error (ETIMEDOUT when the
    /// deadline passed first; a stalled read stays parked until the mode changes and is then
    /// discarded). Records the result (``lastCheck``).
    public func check(timeout: Duration) async -> Errno? {
        let started = ContinuousClock.now
        let deadline = started + timeout
        var result: Errno?
        do {
            guard try await withDeadline(deadline, { try await self.transport.connect() }) != nil else {
                throw MapperError(.ETIMEDOUT, "timed out connecting")
            }
            let probe = CheckProbe()
            let sectors = min(8, sizeSectors)
            let request = BlockRequest(
                op: .read, sector: 0, sectors: sectors, buffer: IOBuffer.uninitialized(count: Int(sectors) << 9),
                bufferOffset: 0, completion: probe)
            submit(request)
            result = await probe.wait(deadline: deadline)
        } catch let error as MapperError {
            result = error.errno
        } catch {
            result = .ETIMEDOUT
        }
        let checked = CheckResult(error: result, at: Date(), duration: ContinuousClock.now - started)
        state.withLock { $0.lastCheck = checked }
        return result
    }

    /// A snapshot for the API.
    public var info: PathInfo {
        let (active, failCount, fault, checker, lastCheck) = state.withLock {
            ($0.active, $0.failCount, $0.fault, $0.checker, $0.lastCheck)
        }
        return PathInfo(
            name: name, backend: backend.name, active: active, failCount: failCount, fault: fault,
            usedBy: holders.deviceNames, transport: transport.transportInfo, checker: checker, lastCheck: lastCheck)
    }
}

/// Told when a path's dm state changes, whoever changed it (message, path endpoint, I/O error).
public protocol PathStateObserver: AnyObject, Sendable {
    func pathFailed(_ path: Path)
    func pathReinstated(_ path: Path)
}
