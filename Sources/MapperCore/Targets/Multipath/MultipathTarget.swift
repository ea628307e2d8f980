import Synchronization

/// `multipath`: routes I/O over priority groups of paths to one backend, fails over on path
/// errors and, with `queue_if_no_path`, holds I/O while no path is usable (SEMANTICS §5,
/// dm-mpath of Linux 2.6.20 with noflush pushback).
///
/// Lock order: target lock → device lock (queue bookkeeping, `dm_noflush_suspending`) and
/// target lock → path lock (path state reads). Paths call ``pathFailed(_:)`` /
/// ``pathReinstated(_:)`` outside their own lock.
public final class MultipathTarget: Target, PathStateObserver, @unchecked Sendable {
    public static let type = TargetType(name: "multipath", version: (1, 0, 5)) { context in
        let arguments = try MultipathArguments(context: context)
        let target = MultipathTarget(context: context, arguments: arguments)
        for path in target.paths { path.addObserver(target) }
        return target
    }

    let context: TargetContext
    let state: Mutex<MultipathState>
    let hardwareHandler: [String]
    /// Every path, in table order.
    public let paths: [Path]
    /// Whether any group's selector counts I/O (end_io then takes the lock).
    let selectorsTrackIO: Bool
    /// The table's `queue_if_no_path` feature (what `no_path_retry queue` restores).
    let tableQueueIfNoPath: Bool
    /// The groups in table order (the same objects as the state's) and, per group, its
    /// round-robin selector and paths when it can choose without the lock.
    let groupList: [PriorityGroup]
    let lockFreeRoutes: [LockFreeRoute?]
    /// Which group `map` may choose in without the lock (``FastPathChoice``).
    let fastChoice = FastPathChoice()

    init(context: TargetContext, arguments: MultipathArguments) {
        self.context = context
        self.hardwareHandler = arguments.hardwareHandler
        self.paths = arguments.groups.flatMap(\.paths)
        self.selectorsTrackIO = arguments.groups.contains { $0.selector.tracksIO }
        self.tableQueueIfNoPath = arguments.queueIfNoPath
        self.groupList = arguments.groups
        self.lockFreeRoutes = arguments.groups.map { group in
            (group.selector as? RoundRobinSelector).flatMap {
                $0.uniformRepeatCount == nil ? nil : LockFreeRoute(selector: $0, paths: group.paths)
            }
        }
        var initial = MultipathState(
            groups: arguments.groups, queueIfNoPath: arguments.queueIfNoPath,
            savedQueueIfNoPath: arguments.queueIfNoPath, fastChoice: fastChoice)
        if arguments.initialGroup > 0 { initial.nextGroup = arguments.groups[arguments.initialGroup - 1] }
        self.state = Mutex(initial)
    }

    deinit {
        for route in lockFreeRoutes { route?.deallocate() }
    }

    // MARK: Path choice

    /// dm's `__choose_pgpath`: the requested group first, then stay in the current group while
    /// it has a usable path, then every enabled group in order, then the bypassed ones.
    static func choosePath(_ state: inout MultipathState) {
        if let next = state.nextGroup {
            state.nextGroup = nil
            if choosePath(in: next, &state) { return }
        }
        if let current = state.currentGroup, choosePath(in: current, &state) { return }
        for bypassed in [false, true] {
            for group in state.groups where group.bypassed == bypassed {
                if choosePath(in: group, &state) { return }
            }
        }
        state.currentPath = nil
        state.currentGroup = nil
    }

    /// dm's `__choose_path_in_pg`.
    private static func choosePath(in group: PriorityGroup, _ state: inout MultipathState) -> Bool {
        guard let (path, repeatCount) = group.selector.select(from: group.paths) else { return false }
        state.currentPath = path
        state.repeatCount = repeatCount
        state.currentGroup = group
        return true
    }

    /// dm's `__must_push_back`: queue_if_no_path was turned off by presuspend (not by a
    /// message) and a noflush suspend is in progress. Caller holds the target lock.
    func mustPushBack(_ state: MultipathState) -> Bool {
        state.queueIfNoPath != state.savedQueueIfNoPath && context.isNoflushSuspending
    }

    // MARK: map and end_io

    private enum Decision {
        case path(Path)
        case queued
        case requeue
        case fail
        case retry
    }

    public func map(_ clone: Clone) -> MapResult {
        // Round-robin inside the current group without the lock (``FastPathChoice``).
        if let index = fastChoice.groupIndex, let route = lockFreeRoutes[index], let chosen = route.choose() {
            chosen._withUnsafeGuaranteedRef { path in
                clone.mapContext = path
                path.submit(remapped: clone, to: clone.op == .flush ? 0 : clone.sector)
            }
            return .submitted
        }
        let decision = state.withLock { state -> Decision in
            if state.currentPath == nil || state.currentPath?.isActive == false
                || (state.repeatCount > 0
                    && {
                        state.repeatCount -= 1; return state.repeatCount == 0
                    }())
            {
                Self.choosePath(&state)
            }
            if let path = state.currentPath {
                if let group = state.currentGroup, group.selector.tracksIO {
                    group.selector.startIO(path, sectors: clone.sectors)
                }
                if let group = state.currentGroup, state.nextGroup == nil,
                    let route = lockFreeRoutes[group.number - 1], fastChoice.groupIndex != group.number - 1
                {
                    route.selector.takeUnretainedValue().alignTicket(pathCount: group.paths.count)
                    fastChoice.publish(group.number - 1)
                }
                return .path(path)
            }
            // A bio from a device in a noflush suspend goes back to it, not into the queue.
            if clone.bio.issuerIsNoflushSuspending { return .requeue }
            if state.queueIfNoPath {
                state.queue.append(clone)
                clone.enteredTargetQueue()
                return .queued
            }
            return mustPushBack(state) ? .requeue : .fail
        }
        switch decision {
        case .path(let path):
            // Submitted here, not returned as `.remapped` (``MapResult/submitted``).
            clone.mapContext = path
            path.submit(remapped: clone, to: clone.op == .flush ? 0 : clone.sector)
            return .submitted
        case .queued, .retry: return .submitted
        case .requeue: return .requeue
        case .fail: return .error(.EIO)
        }
    }

    public func endIO(_ clone: Clone, error: Errno?) -> EndIOResult {
        // The common case: success, and no selector that counts I/O.
        if error == nil && !selectorsTrackIO { return .done }
        // `map` stores nothing but this target's own paths there.
        let path = clone.mapContext.map { unsafeDowncast($0, to: Path.self) }
        if let path, selectorsTrackIO {
            state.withLock { state in
                for group in state.groups where group.selector.tracksIO && group.paths.contains(where: { $0 === path })
                {
                    group.selector.endIO(path, sectors: clone.sectors)
                }
            }
        }
        guard let error else { return .done }
        // An error about the request itself goes to the bio; the path stays as it is.
        guard error.isPathError else { return .done }
        // An error from a path fails it for every target using it (global path state).
        if let path { path.fail() }
        clone.mapContext = nil
        let decision = state.withLock { state -> Decision in
            if state.validPathCount > 0 { return .retry }
            if mustPushBack(state) || clone.bio.issuerIsNoflushSuspending { return .requeue }
            if state.queueIfNoPath {
                state.queue.append(clone)
                clone.enteredTargetQueue()
                return .queued
            }
            return .fail
        }
        switch decision {
        case .retry:
            clone.reissue()
            return .incomplete
        case .queued, .path: return .incomplete
        case .requeue: return .requeue
        case .fail: return .error(.EIO)
        }
    }

    /// dm's `process_queued_ios`: unless there is still no path and queueing is on, every
    /// queued clone leaves the queue and is mapped again.
    func dispatchQueue() {
        let clones = state.withLock { state -> [Clone] in
            guard !state.queue.isEmpty else { return [] }
            if state.currentPath == nil || state.currentPath?.isActive == false { Self.choosePath(&state) }
            if state.currentPath == nil && state.queueIfNoPath { return [] }
            let clones = state.queue
            state.queue = []
            for clone in clones { clone.leftTargetQueue() }
            return clones
        }
        for clone in clones { clone.reissue() }
    }

    /// A device stacked above this one started a noflush suspend: the clones queued for it
    /// leave the queue with a requeue (the core hands them back up).
    public func holderNoflushSuspending() {
        let clones = state.withLock { state -> [Clone] in
            var handed: [Clone] = []
            state.queue.removeAll { clone in
                guard clone.bio.issuerIsNoflushSuspending else { return false }
                clone.leftTargetQueue()
                handed.append(clone)
                return true
            }
            return handed
        }
        for clone in clones { clone.end(.requeue) }
    }

    /// dm's `queue_if_no_path()`: sets the live value, and the saved one to the old value
    /// (presuspend) or to the new one (messages); dispatches the queue when turned off.
    func setQueueIfNoPath(_ value: Bool, saveOld: Bool) {
        state.withLock { state in
            state.savedQueueIfNoPath = saveOld ? state.queueIfNoPath : value
            state.queueIfNoPath = value
        }
        context.persistState()
        if !value { dispatchQueue() }
    }

    // MARK: Path state (global)

    public func pathFailed(_ path: Path) {
        state.withLock { state in
            if state.currentPath === path { state.currentPath = nil }
        }
        context.triggerEvent(kind: .pathFailed, path: path.name, detail: "failCount \(path.failCount)")
        armNoPathRetry()
    }

    public func pathReinstated(_ path: Path) {
        state.withLock { state in
            if !state.queue.isEmpty { state.currentPath = nil }
        }
        dispatchQueue()
        context.triggerEvent(kind: .pathReinstated, path: path.name)
        noPathRetryPathReinstated()
    }

    // MARK: Hooks

    /// Saves `queue_if_no_path`, turns it off and dispatches the queue: a flush suspend fails
    /// queued bios with EIO, a noflush suspend pushes them back.
    public func presuspend() { setQueueIfNoPath(false, saveOld: true) }

    /// Restores the `queue_if_no_path` saved by presuspend.
    public func resume() {
        state.withLock { $0.queueIfNoPath = $0.savedQueueIfNoPath }
        context.persistState()
        // The device's policy, applied before deferred and pushed-back bios are re-issued.
        if noPathRetry != .queue || state.withLock({ $0.disabledByRetry }) { applyNoPathRetry(atResume: true) }
    }

    /// `queueIfNoPath` and `savedQueueIfNoPath` as `"1"`/`"0"`.
    public var persistentState: [String: String]? {
        state.withLock { state in
            [
                "queueIfNoPath": state.queueIfNoPath ? "1" : "0",
                "savedQueueIfNoPath": state.savedQueueIfNoPath ? "1" : "0",
                "disabledByRetry": state.disabledByRetry ? "1" : "0",
            ]
        }
    }

    public func restore(_ saved: [String: String]) {
        state.withLock { state in
            if let value = saved["queueIfNoPath"] { state.queueIfNoPath = value == "1" }
            if let value = saved["savedQueueIfNoPath"] { state.savedQueueIfNoPath = value == "1" }
            if let value = saved["disabledByRetry"] { state.disabledByRetry = value == "1" }
        }
    }

    /// Unregisters from the paths and fails any clone still queued with EIO.
    public func destroy() {
        disarmNoPathRetry()
        for path in paths { path.removeObserver(self) }
        let clones = state.withLock { state -> [Clone] in
            defer { state.queue = [] }
            for clone in state.queue { clone.leftTargetQueue() }
            return state.queue
        }
        for clone in clones { clone.end(.error(.EIO)) }
    }
}
