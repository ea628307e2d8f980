/// The mapping trees' copy-on-write B-tree operations (dm's `btree_insert`, `btree_remove`
/// and `shadow_step`). Full nodes are split on the way down, so a parent always has room for
/// the entry a split adds. Removal does not rebalance: an emptied node leaves its parent, and
/// a root with one child gives way to it.
extension ThinMetadata {
    /// A new node in a fresh block. Throws ENOSPC when only the commit reserve is left.
    mutating func newNode(_ node: ThinNode) throws -> UInt64 {
        guard meta.free > metadataReserve, let block = meta.allocate() else {
            throw MapperError(.ENOSPC, "metadata device is full")
        }
        nodes[UInt64(block)] = node
        return UInt64(block)
    }

    /// The block to change instead of `block`: `block` itself when this transaction made it
    /// and nothing else references it, else a copy. Copying a node that others share gives its
    /// children one more reference (dm's `inc_children`); copying one only the last commit
    /// references moves the references to the copy.
    mutating func shadow(_ block: UInt64) throws -> UInt64 {
        let count = meta[Int(block)]
        if count == 1 && meta.isFresh(Int(block)) { return block }
        guard let node = nodes[block] else { throw MapperError(.EIO, "metadata block \(block) is not a node") }
        let copy = try newNode(node)
        if count > 1 {
            for value in node.values {
                if node.isLeaf { data.increment(Int(value)) } else { meta.increment(Int(value)) }
            }
            meta.decrement(Int(block))
        } else {
            meta.decrement(Int(block))
            nodes[block] = nil
        }
        return copy
    }

    /// Drops one reference to `block`; a node left with none drops its children's (dm's
    /// `dec_children`), and data blocks left with none are collected.
    mutating func drop(_ block: UInt64, freedData: inout [UInt64]) {
        guard meta.decrement(Int(block)), let node = nodes.removeValue(forKey: block) else { return }
        for value in node.values {
            if node.isLeaf {
                if data.decrement(Int(value)) { freedData.append(value) }
            } else {
                drop(value, freedData: &freedData)
            }
        }
    }

    /// Inserts or replaces `key` in the tree at `root` (0: empty); returns the new root and the
    /// value replaced. The replaced value's reference is the caller's to drop.
    ///
    /// Each node on the way is shadowed, then changed in place in the node store (a copy of a
    /// node held across a change would make the change copy its arrays); a full node is split
    /// by its parent (a new root above a full root) before the insertion goes on in it, so a
    /// split always finds room in the parent. A leaf that has the key is not split: its value
    /// is replaced.
    mutating func insert(root: UInt64, key: UInt64, value: UInt64) throws -> (root: UInt64, old: UInt64?) {
        if root == 0 {
            return (try newNode(ThinNode(isLeaf: true, keys: [key], values: [value])), nil)
        }
        var top = try shadow(root)
        var current = top
        var parent: (block: UInt64, index: Int)?
        walk: while let step = nodes[current]?.insertStep(key: key, value: value, maxEntries: maxEntries) {
            switch step {
            case .replaced(let old):
                return (top, old)
            case .inserted:
                return (top, nil)
            case .descend(let index, let next):
                let child = try shadow(next)
                if child != next { nodes[current]?.values[index] = child }
                parent = (current, index)
                current = child
            case .full:
                let above: (block: UInt64, index: Int)
                if let parent {
                    above = parent
                } else {
                    guard let first = nodes[current]?.keys.first else { break walk }
                    top = try newNode(ThinNode(isLeaf: false, keys: [first], values: [current]))
                    above = (top, 0)
                }
                try split(parent: above.block, index: above.index)
                guard let node = nodes[above.block] else { break walk }
                let index = node.childIndex(key)
                // A key below a new root's only key becomes its lowest, as a step would make it.
                if key < node.keys[index] { nodes[above.block]?.keys[index] = key }
                parent = (above.block, index)
                current = node.values[index]
            }
        }
        throw MapperError(.EIO, "mapping tree is missing a node")
    }

    /// Removes `key`, which must be in the tree at `root`; returns the new root (0: empty) and
    /// the value removed.
    mutating func remove(root: UInt64, key: UInt64) throws -> (root: UInt64, old: UInt64) {
        var top = try shadow(root)
        var path: [(block: UInt64, index: Int)] = []
        var current = top
        while let node = nodes[current], !node.isLeaf {
            let index = node.childIndex(key)
            let child = try shadow(node.values[index])
            nodes[current]?.values[index] = child
            path.append((current, index))
            current = child
        }
        guard let index = nodes[current]?.lowerBound(key), nodes[current]?.keys.indices.contains(index) == true,
            nodes[current]?.keys[index] == key, let old = nodes[current]?.values.remove(at: index)
        else { throw MapperError(.EIO, "mapping tree lost key \(key)") }
        nodes[current]?.keys.remove(at: index)
        var emptied: UInt64? = nodes[current]?.count == 0 ? current : nil
        while let block = emptied {
            meta.decrement(Int(block))
            nodes[block] = nil
            emptied = nil
            if let (parent, index) = path.popLast() {
                nodes[parent]?.keys.remove(at: index)
                nodes[parent]?.values.remove(at: index)
                if nodes[parent]?.count == 0 { emptied = parent }
            } else {
                top = 0
            }
        }
        // A root with one child gives way to it (the child's reference moves to the device).
        while top != 0, let node = nodes[top], !node.isLeaf, node.count == 1 {
            meta.decrement(Int(top))
            nodes[top] = nil
            top = node.values[0]
        }
        return (top, old)
    }

    /// Moves the upper half of full child `index` of `parent` (both fresh) to a new node after
    /// it.
    private mutating func split(parent: UInt64, index: Int) throws {
        guard let parentNode = nodes[parent], var left = nodes[parentNode.values[index]] else {
            throw MapperError(.EIO, "mapping tree is missing a node")
        }
        let middle = left.count / 2
        let right = ThinNode(
            isLeaf: left.isLeaf, keys: Array(left.keys[middle...]), values: Array(left.values[middle...]))
        left.keys.removeSubrange(middle...)
        left.values.removeSubrange(middle...)
        nodes[parentNode.values[index]] = left
        let rightBlock = try newNode(right)
        nodes[parent]?.keys.insert(right.keys[0], at: index + 1)
        nodes[parent]?.values.insert(rightBlock, at: index + 1)
    }
}
