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

    /// What ``insertStep(key:value:maxEntries:)`` did at one node.
    enum InsertStep: Equatable {
        /// The node holds `maxEntries` entries: its parent splits it first.
        case full
        /// A leaf had the key: its value was replaced by the new one.
        case replaced(old: UInt64)
        /// A leaf did not have the key: it was inserted.
        case inserted
        /// An internal node: the insertion goes on in child `index`, at metadata block `child`
        /// (the key became the child's lowest key if it was below it).
        case descend(index: Int, child: UInt64)
    }

    /// One step of an insertion of `key` → `value`, done in place (called through the node
    /// store's in-place access, so the node's arrays are not copied).
    mutating func insertStep(key: UInt64, value: UInt64, maxEntries: Int) -> InsertStep {
        if isLeaf {
            let index = lowerBound(key)
            if index < keys.count && keys[index] == key {
                let old = values[index]
                values[index] = value
                return .replaced(old: old)
            }
            if keys.count >= maxEntries { return .full }
            keys.insert(key, at: index)
            values.insert(value, at: index)
            return .inserted
        }
        if keys.count >= maxEntries { return .full }
        let index = childIndex(key)
        if key < keys[index] { keys[index] = key }
        return .descend(index: index, child: values[index])
    }
}
