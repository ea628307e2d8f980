/// Reference counts of a pool's blocks (dm's space maps), for metadata blocks or data blocks,
/// with the rule that keeps the last commit readable: a block the last commit may reference
/// is not handed out again until the commit that stops referencing it is durable.
///
/// States of a block: free (count 0), in use (count > 0), and *released* (count 0, but the
/// last durable commit may still reference it). A block allocated in the current transaction
/// (``isFresh(_:)``) goes straight back to free when its count drops to 0: no commit ever
/// referenced it. ``beginCommit()`` and ``commitEnded(_:)`` move released blocks to free once
/// a commit that no longer references them is durable.
///
/// Pure value type; the pool keeps it behind its lock.
struct ThinSpaceMap: Equatable, Sendable {
    private(set) var counts: [UInt32]
    /// Released in the current transaction.
    private var released: [Int] = []
    /// Released before the commit in flight began: free once it is durable.
    private var releasedBeforeCommit: [Int] = []
    /// Per block: ``blockedFlag`` (not allocatable although its count is 0: released, or
    /// reserved by the format) and ``freshFlag`` (allocated in the current transaction). Flags
    /// rather than a set: allocation is on every first write's path.
    private var flags: [UInt8]
    /// The blocks made fresh in the current transaction (some may no longer be: see `flags`).
    private var freshList: [Int] = []
    private var cursor = 0
    /// Blocks with a count above 0, or released and not yet free.
    private(set) var used = 0

    private static let blockedFlag: UInt8 = 1
    private static let freshFlag: UInt8 = 2

    init(count: Int) {
        counts = Array(repeating: 0, count: count)
        flags = Array(repeating: 0, count: count)
    }

    /// Equal when every block has the same count and state (the order fresh blocks were
    /// listed in does not matter).
    static func == (lhs: ThinSpaceMap, rhs: ThinSpaceMap) -> Bool {
        lhs.counts == rhs.counts && lhs.flags == rhs.flags && lhs.released == rhs.released
            && lhs.releasedBeforeCommit == rhs.releasedBeforeCommit && lhs.cursor == rhs.cursor && lhs.used == rhs.used
    }

    private func isBlocked(_ block: Int) -> Bool { flags[block] & Self.blockedFlag != 0 }

    var count: Int { counts.count }
    var free: Int { counts.count - used }

    subscript(block: Int) -> UInt32 { counts[block] }

    func isFresh(_ block: Int) -> Bool { flags[block] & Self.freshFlag != 0 }

    /// The blocks allocated in the current transaction and still in use, in ascending order.
    var freshBlocks: [Int] { Set(freshList.filter(isFresh)).sorted() }

    /// Counts one more reference (loading: references found by walking the metadata).
    mutating func increment(_ block: Int) {
        if counts[block] == 0 && !isBlocked(block) { used += 1 }
        counts[block] += 1
    }

    /// Drops one reference; returns `true` when the block's count reached 0.
    @discardableResult
    mutating func decrement(_ block: Int) -> Bool {
        precondition(counts[block] > 0, "space map: block \(block) released more often than referenced")
        counts[block] -= 1
        guard counts[block] == 0 else { return false }
        if isFresh(block) {
            flags[block] &= ~Self.freshFlag
            used -= 1
        } else {
            flags[block] |= Self.blockedFlag
            released.append(block)
        }
        return true
    }

    /// A free block with count 1, fresh in this transaction; `nil` when none is free.
    mutating func allocate() -> Int? {
        guard used < counts.count else { return nil }
        var index = cursor
        for _ in 0..<counts.count {
            if counts[index] == 0 && flags[index] == 0 {
                counts[index] = 1
                used += 1
                flags[index] = Self.freshFlag
                freshList.append(index)
                cursor = index + 1 == counts.count ? 0 : index + 1
                return index
            }
            index = index + 1 == counts.count ? 0 : index + 1
        }
        return nil
    }

    /// The current transaction is being written: its fresh blocks become ordinary, and what it
    /// released waits for that commit.
    mutating func beginCommit() {
        for block in freshList { flags[block] &= ~Self.freshFlag }
        freshList.removeAll(keepingCapacity: true)
        releasedBeforeCommit.append(contentsOf: released)
        released.removeAll(keepingCapacity: true)
    }

    /// The commit begun last is durable (`true`), so what was released before it is free; or it
    /// failed, and those blocks stay blocked until the pool is reloaded.
    mutating func commitEnded(_ durable: Bool) {
        guard durable else { return }
        for block in releasedBeforeCommit where counts[block] == 0 {
            flags[block] &= ~Self.blockedFlag
            used -= 1
        }
        releasedBeforeCommit.removeAll(keepingCapacity: true)
    }

    /// Grows the map to `count` blocks (a pool's data device grew); never shrinks.
    mutating func grow(to count: Int) {
        guard count > counts.count else { return }
        counts.append(contentsOf: repeatElement(0, count: count - counts.count))
        flags.append(contentsOf: repeatElement(0, count: count - flags.count))
    }
}
