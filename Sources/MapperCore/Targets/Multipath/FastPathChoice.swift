import Synchronization

/// Lets `map` choose a path without the multipath target's lock while the choice is plain
/// round-robin inside the current priority group.
///
/// The target's locked path choice (dm's `__choose_pgpath`) stays the only one that picks a
/// group; once it settled on a group whose selector is round-robin with one repeat count for
/// every path, it publishes the group's index here. From then on `map` takes the next active
/// path of that group from the selector's atomic ticket (``RoundRobinSelector/selectLockFree(from:)``),
/// without the lock. Anything that would change the choice under the lock (the current path
/// cleared by a failure or a message, a `switch_group`) disables it first, so the next bio
/// goes through the locked choice again; a group without an active path falls back to it by
/// itself. A bio that read the group just before it was disabled may still be sent down one
/// of its active paths, as a bio mapped just before a path failure is in dm.
final class FastPathChoice: Sendable {
    private let group = Atomic<Int>(-1)

    init() {}

    /// The published group's index (into the target's groups), or `nil`.
    @inline(__always)
    var groupIndex: Int? {
        let index = group.load(ordering: .acquiring)
        return index >= 0 ? index : nil
    }

    func publish(_ index: Int) { group.store(index, ordering: .releasing) }
    func disable() { group.store(-1, ordering: .releasing) }
}
