import Synchronization

/// `round-robin`: sends `repeat_count` I/Os down each active path in turn (dm-round-robin).
/// One optional per-path argument, the repeat count (default 1000, dm 2.6.20's `RR_MIN_IO`).
///
/// Besides the locked rotation, ``selectLockFree(from:)`` chooses with an atomic ticket when
/// every path has the same repeat count (``uniformRepeatCount``): ticket `t` goes to the
/// active path found from index `(t / repeatCount) % n` on. The target uses it between two
/// locked choices (``FastPathChoice``).
final class RoundRobinSelector: PathSelector, @unchecked Sendable {
    static let defaultRepeatCount = 1000
    let name = "round-robin"
    let tableArgCount = 1
    let infoArgCount = 0
    private var repeatCounts: [ObjectIdentifier: Int] = [:]
    /// Where the next search starts (index into the group's paths).
    private var next = 0
    /// Bios sent through ``selectLockFree(from:)`` (unsigned, so that it wraps to 0; one
    /// `lock xadd` per bio).
    private let ticket = Atomic<UInt>(0)
    /// The repeat count every path has, or `nil` when they differ (or there are none). Set
    /// while the table is built, read-only afterwards.
    private(set) var uniformRepeatCount: Int?

    func addPath(_ path: Path, args: [String]) throws {
        guard args.count <= 1 else { throw MapperError(.EINVAL, "round-robin takes at most 1 per-path argument") }
        let count = try Self.repeatCount(args.first, path: path, default: Self.defaultRepeatCount)
        uniformRepeatCount = repeatCounts.isEmpty || uniformRepeatCount == count ? count : nil
        repeatCounts[ObjectIdentifier(path)] = count
    }

    /// Continues the locked rotation on the ticket: the path the last ``select(from:)`` chose
    /// gets the rest of its repeat count, then the next one. Called under the target's lock
    /// when the lock-free choice is published.
    func alignTicket(pathCount: Int) {
        guard let repeatCount = uniformRepeatCount, pathCount > 0 else { return }
        let chosen = (next - 1 + pathCount) % pathCount
        ticket.store(UInt(chosen * repeatCount + 1), ordering: .relaxed)
    }

    /// The next active path by ticket, without a lock (only with a ``uniformRepeatCount``);
    /// `nil` when no path of the group is active. The paths are borrowed
    /// (``LockFreeRoute``): no reference count is written.
    @inline(__always)
    func selectLockFree(from paths: UnsafeBufferPointer<Unmanaged<Path>>) -> Unmanaged<Path>? {
        guard let repeatCount = uniformRepeatCount, !paths.isEmpty else { return nil }
        let count = paths.count
        let start = Int((ticket.wrappingAdd(1, ordering: .relaxed).oldValue / UInt(repeatCount)) % UInt(count))
        for step in 0..<count {
            var index = start + step
            if index >= count { index -= count }
            let path = paths[index]
            if path._withUnsafeGuaranteedRef({ $0.isActive }) { return path }
        }
        return nil
    }

    /// The first active path from the rotation point on, wrapping around; the rotation then
    /// moves past it (dm moves the chosen path to the tail of its valid list).
    func select(from paths: [Path]) -> (path: Path, repeatCount: Int)? {
        let count = paths.count
        guard count > 0 else { return nil }
        for step in 0..<count {
            let index = (next + step) % count
            let path = paths[index]
            if path.isActive {
                next = (index + 1) % count
                return (path, repeatCounts[ObjectIdentifier(path)] ?? Self.defaultRepeatCount)
            }
        }
        return nil
    }

    func tableArgs(for path: Path) -> [String] {
        ["\(repeatCounts[ObjectIdentifier(path)] ?? Self.defaultRepeatCount)"]
    }

    func infoArgs(for path: Path) -> [String] { [] }
}
