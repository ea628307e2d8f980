/// `round-robin`: sends `repeat_count` I/Os down each active path in turn (dm-round-robin).
/// One optional per-path argument, the repeat count (default 1000, dm 2.6.20's `RR_MIN_IO`).
final class RoundRobinSelector: PathSelector {
    static let defaultRepeatCount = 1000
    let name = "round-robin"
    let tableArgCount = 1
    let infoArgCount = 0
    private var repeatCounts: [ObjectIdentifier: Int] = [:]
    /// Rotation position: the next path to try is the first candidate after this one.
    private var last: ObjectIdentifier?
    private var order: [ObjectIdentifier] = []

    func addPath(_ path: Path, args: [String]) throws {
        guard args.count <= 1 else { throw MapperError(.EINVAL, "round-robin takes at most 1 per-path argument") }
        var repeatCount = Self.defaultRepeatCount
        if let text = args.first {
            guard let value = Int(text), value >= 1 else {
                throw MapperError(.EINVAL, "invalid repeat count '\(text)' for path '\(path.name)'")
            }
            repeatCount = value
        }
        repeatCounts[ObjectIdentifier(path)] = repeatCount
        order.append(ObjectIdentifier(path))
    }

    func select(from candidates: [Path]) -> (path: Path, repeatCount: Int)? {
        guard !candidates.isEmpty else { return nil }
        var chosen = candidates[0]
        if let last, let position = order.firstIndex(of: last) {
            // The first candidate after `last` in table order, wrapping around.
            let ids = candidates.map(ObjectIdentifier.init)
            for step in 1...order.count {
                let id = order[(position + step) % order.count]
                if let index = ids.firstIndex(of: id) {
                    chosen = candidates[index]
                    break
                }
            }
        }
        last = ObjectIdentifier(chosen)
        return (chosen, repeatCounts[ObjectIdentifier(chosen)] ?? Self.defaultRepeatCount)
    }

    func tableArgs(for path: Path) -> [String] {
        ["\(repeatCounts[ObjectIdentifier(path)] ?? Self.defaultRepeatCount)"]
    }

    func infoArgs(for path: Path) -> [String] { [] }
}
