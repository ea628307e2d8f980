/// One priority group as `map` reads it without the target's lock (``FastPathChoice``): its
/// round-robin selector and its paths, unmanaged, so that choosing a path writes no reference
/// count (three retains and releases per bio otherwise: the selector, the path array and the
/// chosen path).
///
/// Lifetime: the target owns the selector and the paths (``MultipathTarget/groupList``) for
/// its whole life and frees this storage in its `deinit`; a clone's path outlives the clone
/// because the table the clone was split through outlives it (``DeviceIOGate``).
struct LockFreeRoute {
    let selector: Unmanaged<RoundRobinSelector>
    private let paths: UnsafeMutableBufferPointer<Unmanaged<Path>>

    init(selector: RoundRobinSelector, paths: [Path]) {
        self.selector = Unmanaged.passUnretained(selector)
        self.paths = .allocate(capacity: paths.count)
        _ = self.paths.initialize(from: paths.map { Unmanaged.passUnretained($0) })
    }

    /// Frees the path list (the owning target's `deinit`).
    func deallocate() { paths.deallocate() }

    /// The next active path by the selector's ticket, borrowed; `nil` when none is active.
    @inline(__always)
    func choose() -> Unmanaged<Path>? {
        selector._withUnsafeGuaranteedRef { $0.selectLockFree(from: UnsafeBufferPointer(paths)) }
    }
}
