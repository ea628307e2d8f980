/// `queue-length`: picks the active path with the fewest I/Os in flight (dm-queue-length).
/// One optional per-path argument, the repeat count (default 1). INFO shows the in-flight
/// count of each path.
final class QueueLengthSelector: PathSelector {
    let name = "queue-length"
    let tableArgCount = 1
    let infoArgCount = 1
    let tracksIO = true
    private var repeatCounts: [ObjectIdentifier: Int] = [:]
    private var inFlight: [ObjectIdentifier: Int] = [:]

    func addPath(_ path: Path, args: [String]) throws {
        guard args.count <= 1 else { throw MapperError(.EINVAL, "queue-length takes at most 1 per-path argument") }
        repeatCounts[ObjectIdentifier(path)] = try Self.repeatCount(args.first, path: path, default: 1)
        inFlight[ObjectIdentifier(path)] = 0
    }

    func select(from paths: [Path]) -> (path: Path, repeatCount: Int)? {
        guard
            let best = paths.filter(\.isActive).min(by: {
                inFlight[ObjectIdentifier($0), default: 0] < inFlight[ObjectIdentifier($1), default: 0]
            })
        else { return nil }
        return (best, repeatCounts[ObjectIdentifier(best)] ?? 1)
    }

    func startIO(_ path: Path, sectors: UInt64) { inFlight[ObjectIdentifier(path), default: 0] += 1 }
    func endIO(_ path: Path, sectors: UInt64) {
        inFlight[ObjectIdentifier(path)] = max(0, inFlight[ObjectIdentifier(path), default: 0] - 1)
    }

    func tableArgs(for path: Path) -> [String] { ["\(repeatCounts[ObjectIdentifier(path)] ?? 1)"] }
    func infoArgs(for path: Path) -> [String] { ["\(inFlight[ObjectIdentifier(path), default: 0])"] }
}
