/// A priority group of a multipath target (dm's `struct priority_group`): its paths, their
/// selector and whether it is bypassed. Mutated only under the target's lock.
final class PriorityGroup: @unchecked Sendable {
    /// 1-based, as messages and status count.
    let number: Int
    let selector: any PathSelector
    let paths: [Path]
    /// `disable_group` sets it; tried only when no enabled group has a usable path.
    var bypassed = false

    init(number: Int, selector: any PathSelector, paths: [Path]) {
        self.number = number
        self.selector = selector
        self.paths = paths
    }

    /// Active paths in table order.
    var activePaths: [Path] { paths.filter(\.isActive) }
}
