/// `service-time`: picks the active path with the least estimated service time, (in-flight
/// bytes + this I/O) / relative throughput (dm-service-time). Per-path arguments: repeat
/// count (default 1) and relative throughput 0...100 (default 1; 0 means use only when
/// nothing else is active). INFO shows in-flight sectors and relative throughput.
final class ServiceTimeSelector: PathSelector {
    let name = "service-time"
    let tableArgCount = 2
    let infoArgCount = 2
    let tracksIO = true
    private var settings: [ObjectIdentifier: (repeatCount: Int, throughput: Int)] = [:]
    private var inFlightSectors: [ObjectIdentifier: UInt64] = [:]

    func addPath(_ path: Path, args: [String]) throws {
        guard args.count <= 2 else { throw MapperError(.EINVAL, "service-time takes at most 2 per-path arguments") }
        let repeatCount = try Self.repeatCount(args.first, path: path, default: 1)
        var throughput = 1
        if args.count == 2 {
            guard let value = Int(args[1]), (0...100).contains(value) else {
                throw MapperError(.EINVAL, "invalid relative throughput '\(args[1])' for path '\(path.name)'")
            }
            throughput = value
        }
        settings[ObjectIdentifier(path)] = (repeatCount, throughput)
        inFlightSectors[ObjectIdentifier(path)] = 0
    }

    func select(from paths: [Path]) -> (path: Path, repeatCount: Int)? {
        let candidates = paths.filter(\.isActive)
        func cost(_ path: Path) -> Double {
            let id = ObjectIdentifier(path)
            let throughput = settings[id]?.throughput ?? 1
            let load = Double(inFlightSectors[id, default: 0] + 1)
            return throughput == 0 ? .infinity : load / Double(throughput)
        }
        guard let best = candidates.min(by: { cost($0) < cost($1) }) else { return nil }
        return (best, settings[ObjectIdentifier(best)]?.repeatCount ?? 1)
    }

    func startIO(_ path: Path, sectors: UInt64) { inFlightSectors[ObjectIdentifier(path), default: 0] += sectors }
    func endIO(_ path: Path, sectors: UInt64) {
        let id = ObjectIdentifier(path)
        inFlightSectors[id] = inFlightSectors[id, default: 0] >= sectors ? inFlightSectors[id, default: 0] - sectors : 0
    }

    func tableArgs(for path: Path) -> [String] {
        let entry = settings[ObjectIdentifier(path)] ?? (1, 1)
        return ["\(entry.repeatCount)", "\(entry.throughput)"]
    }

    func infoArgs(for path: Path) -> [String] {
        [
            "\(inFlightSectors[ObjectIdentifier(path), default: 0])",
            "\(settings[ObjectIdentifier(path)]?.throughput ?? 1)",
        ]
    }
}
