/// One node of a thin device's mapping tree (dm's `btree_node`): sorted keys with a value
/// each. In a leaf a key is a block of the thin device and its value the data block it maps
/// to; in an internal node a key is the lowest key its child may hold and the value is the
/// child's metadata block.
struct ThinNode: Equatable, Sendable {
    var isLeaf: Bool
    var keys: [UInt64]
    var values: [UInt64]

    var count: Int { keys.count }

    /// The index of the first key not below `key` (where `key` is or would be inserted).
    func lowerBound(_ key: UInt64) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let mid = (low + high) >> 1
            if keys[mid] < key { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// In an internal node: the child whose range holds `key` (the last key not above it, or
    /// the first child when `key` is below every key).
    func childIndex(_ key: UInt64) -> Int {
        let bound = lowerBound(key)
        if bound < keys.count, keys[bound] == key { return bound }
        return max(bound - 1, 0)
    }
}
