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
    /// Not allocatable although their count is 0 (released, or reserved by the format).
    private var blocked: [Bool]
    private var fresh: Set<Int> = []
    private var cursor = 0
    /// Blocks with a count above 0, or released and not yet free.
    private(set) var used = 0

    init(count: Int) {
        counts = Array(repeating: 0, count: count)
        blocked = Array(repeating: false, count: count)
    }

    var count: Int { counts.count }
    var free: Int { counts.count - used }

    subscript(block: Int) -> UInt32 { counts[block] }

    func isFresh(_ block: Int) -> Bool { fresh.contains(block) }

    /// The blocks allocated in the current transaction and still in use.
    var freshBlocks: Set<Int> { fresh }

    /// Counts one more reference (loading: references found by walking the metadata).
    mutating func increment(_ block: Int) {
        if counts[block] == 0 && !blocked[block] { used += 1 }
        counts[block] += 1
    }

    /// Drops one reference; returns `true` when the block's count reached 0.
    @discardableResult
    mutating func decrement(_ block: Int) -> Bool {
        precondition(counts[block] > 0, "space map: block \(block) released more often than referenced")
        counts[block] -= 1
        guard counts[block] == 0 else { return false }
        if fresh.remove(block) != nil {
            used -= 1
        } else {
            blocked[block] = true
            released.append(block)
        }
        return true
    }

    /// A free block with count 1, fresh in this transaction; `nil` when none is free.
    mutating func allocate() -> Int? {
        guard used < counts.count else { return nil }
        var index = cursor
        for _ in 0..<counts.count {
            if counts[index] == 0 && !blocked[index] {
                counts[index] = 1
                used += 1
                fresh.insert(index)
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
        fresh.removeAll(keepingCapacity: true)
        releasedBeforeCommit.append(contentsOf: released)
        released.removeAll(keepingCapacity: true)
    }

    /// The commit begun last is durable (`true`), so what was released before it is free; or it
    /// failed, and those blocks stay blocked until the pool is reloaded.
    mutating func commitEnded(_ durable: Bool) {
        guard durable else { return }
        for block in releasedBeforeCommit where counts[block] == 0 {
            blocked[block] = false
            used -= 1
        }
        releasedBeforeCommit.removeAll(keepingCapacity: true)
    }

    /// Grows the map to `count` blocks (a pool's data device grew); never shrinks.
    mutating func grow(to count: Int) {
        guard count > counts.count else { return }
        counts.append(contentsOf: repeatElement(0, count: count - counts.count))
        blocked.append(contentsOf: repeatElement(false, count: count - blocked.count))
    }
}
