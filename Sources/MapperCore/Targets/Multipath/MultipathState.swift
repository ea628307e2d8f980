/// The mutable state of a multipath target (dm's `struct multipath` fields), guarded by the
/// target's lock.
struct MultipathState: @unchecked Sendable {
    var groups: [PriorityGroup]
    var currentGroup: PriorityGroup?
    /// Set by `switch_group` (and the initial group): tried first at the next choice.
    var nextGroup: PriorityGroup? { didSet { if nextGroup != nil { fastChoice.disable() } } }
    /// dm's `current_pgpath`. Clearing it (a failed path, a message, a reinstated path with
    /// I/O queued) also stops the lock-free choice until the next choice under the lock.
    var currentPath: Path? { didSet { if currentPath == nil { fastChoice.disable() } } }
    /// I/Os left before choosing again (dm's `repeat_count`).
    var repeatCount = 0
    var queueIfNoPath: Bool
    var savedQueueIfNoPath: Bool
    /// The group whose round-robin selector may choose without the lock (``FastPathChoice``).
    let fastChoice: FastPathChoice
    /// Clones held while there is no path (dm's `queued_ios`).
    var queue: [Clone] = []
    /// `no_path_retry`: whether its timer runs, which run is current, and whether it turned
    /// queueing off (so that a reinstated path turns it on again).
    var retryTimerRunning = false
    var retryGeneration = 0
    var disabledByRetry = false

    /// Active paths over all groups (dm's `nr_valid_paths`; path state is global, so it is
    /// counted rather than kept).
    var validPathCount: Int { groups.reduce(0) { $0 + $1.activePaths.count } }
}
