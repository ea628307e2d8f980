/// `round-robin`: sends `repeat_count` I/Os down each active path in turn (dm-round-robin).
/// One optional per-path argument, the repeat count (default 1000, dm 2.6.20's `RR_MIN_IO`).
final class RoundRobinSelector: PathSelector {
    static let defaultRepeatCount = 1000
    let name = "round-robin"
    let tableArgCount = 1
    let infoArgCount = 0
    private var repeatCounts: [ObjectIdentifier: Int] = [:]
    /// Where the next search starts (index into the group's paths).
    private var next = 0

    func addPath(_ path: Path, args: [String]) throws {
        guard args.count <= 1 else { throw MapperError(.EINVAL, "round-robin takes at most 1 per-path argument") }
        repeatCounts[ObjectIdentifier(path)] = try Self.repeatCount(
            args.first, path: path, default: Self.defaultRepeatCount)
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
