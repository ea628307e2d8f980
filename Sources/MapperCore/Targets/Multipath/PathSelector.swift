/// A path selector (dm's `struct path_selector_type`): picks the next path of one priority
/// group. Selectors are owned by their multipath target and are only called under its lock.
///
/// `select` sees only paths whose dm state is active (the target filters); a selector keeps
/// its own per-path arguments and counters.
protocol PathSelector: AnyObject {
    /// `round-robin`, `queue-length`, `service-time`.
    var name: String { get }
    /// Per-path arguments printed in the TABLE view (dm's `table_args`).
    var tableArgCount: Int { get }
    /// Per-path values printed in the INFO view (dm's `info_args`).
    var infoArgCount: Int { get }
    /// Whether `startIO`/`endIO` must be called (the target skips the bookkeeping otherwise).
    var tracksIO: Bool { get }

    /// Adds a path with its per-path arguments (EINVAL on bad ones).
    func addPath(_ path: Path, args: [String]) throws
    /// Chooses among the active paths of `paths` (the group's paths in table order; inactive
    /// ones must be skipped); returns the path and how many I/Os to send down it before
    /// choosing again (dm's `repeat_count`).
    func select(from paths: [Path]) -> (path: Path, repeatCount: Int)?
    func startIO(_ path: Path, sectors: UInt64)
    func endIO(_ path: Path, sectors: UInt64)
    /// The per-path TABLE arguments, normalised.
    func tableArgs(for path: Path) -> [String]
    /// The per-path INFO values.
    func infoArgs(for path: Path) -> [String]
}

extension PathSelector {
    /// A per-path repeat count argument (`text`, or `defaultValue` when absent): a whole
    /// number of at least 1 (EINVAL naming the path otherwise).
    static func repeatCount(_ text: String?, path: Path, default defaultValue: Int) throws -> Int {
        guard let text else { return defaultValue }
        guard let value = Int(text), value >= 1 else {
            throw MapperError(.EINVAL, "invalid repeat count '\(text)' for path '\(path.name)'")
        }
        return value
    }

    var tracksIO: Bool { false }
    func startIO(_ path: Path, sectors: UInt64) {}
    func endIO(_ path: Path, sectors: UInt64) {}
}

/// Builds selectors by name.
enum PathSelectors {
    static let names = ["round-robin", "queue-length", "service-time"]

    /// A selector for `name` with its group-level arguments (none of ours take any).
    static func make(name: String, args: [String]) throws -> any PathSelector {
        guard args.isEmpty else {
            throw MapperError(.EINVAL, "path selector '\(name)' takes no selector arguments")
        }
        switch name {
        case "round-robin": return RoundRobinSelector()
        case "queue-length": return QueueLengthSelector()
        case "service-time": return ServiceTimeSelector()
        default:
            throw MapperError(
                .EINVAL, "unknown path selector '\(name)' (\(names.joined(separator: ", ")))")
        }
    }
}
