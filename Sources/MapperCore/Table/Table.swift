import Synchronization

/// A constructed, validated table (dm's `struct dm_table`): targets in sector order and a
/// sorted index of their ends for binary-search lookup.
///
/// A table lives in one slot of one device; when it leaves its device (replaced, cleared,
/// swapped out or the device removed) the device calls ``destroy(holder:)``, which runs the
/// targets' `destroy` hooks and closes the devices they opened.
public final class Table: Sendable {
    public let targets: [TargetInstance]
    /// `ends[i]` = one past the last sector of target `i` (dm's `highs`, exclusive).
    private let ends: [UInt64]
    /// Hot-path copies of each target's start, object (in its ``TargetSlot``, as clones call
    /// it) and `maxIOSectors` (0 = no limit), so mapping never copies a whole
    /// ``TargetInstance``.
    let starts: [UInt64]
    let slots: [TargetSlot]
    let maxIO: [UInt64]
    /// Each target's ``Target/hasEndIO``.
    let hasEndIO: [Bool]
    /// Total size in sectors.
    public let sizeSectors: UInt64
    private let destroyed = Atomic<Bool>(false)

    init(targets: [TargetInstance]) {
        self.targets = targets
        self.ends = targets.map(\.end)
        self.starts = targets.map(\.start)
        self.slots = targets.map { TargetSlot($0.target) }
        self.maxIO = targets.map { $0.target.maxIOSectors ?? 0 }
        self.hasEndIO = targets.map(\.target.hasEndIO)
        self.sizeSectors = targets.last?.end ?? 0
    }

    /// Constructs every line's target through `registry`. Lines must already satisfy
    /// ``TableParser/validateLayout(_:)``. On any failure the targets built so far are
    /// destroyed and their devices closed, and the error names the line.
    static func build(
        lines: [TableLine], registry: TargetRegistry, engine: EngineServices, device: MappedDevice,
        resolver: @escaping (String) -> (any BlockNode)?
    ) throws -> Table {
        try TableParser.validateLayout(lines)
        var built: [TargetInstance] = []
        built.reserveCapacity(lines.count)
        do {
            for line in lines {
                guard let type = registry.type(named: line.type) else {
                    throw MapperError(.EINVAL, "\(line.label): unknown target type '\(line.type)'")
                }
                let context = TargetContext(
                    start: line.start, length: line.length, args: line.args, engine: engine,
                    device: device, resolver: resolver)
                let target: any Target
                do {
                    target = try type.construct(context)
                } catch let error as MapperError {
                    throw MapperError(error.errno, "\(line.label): \(line.type): \(error.message)")
                }
                // Opens count only once the constructor succeeded.
                for node in context.opened { node.holders.add(device) }
                built.append(
                    TargetInstance(
                        start: line.start, length: line.length, type: line.type, target: target,
                        opened: context.opened, context: context))
            }
        } catch {
            Table(targets: built).destroy(holder: device)
            throw error
        }
        return Table(targets: built)
    }

    /// Index of the target holding `sector` (binary search). `sector` must be < ``sizeSectors``.
    @inline(__always)
    public func targetIndex(for sector: UInt64) -> Int {
        ends.withUnsafeBufferPointer { ends in
            var low = 0
            var high = ends.count - 1
            while low < high {
                let mid = (low + high) >> 1
                if ends[mid] > sector { high = mid } else { low = mid + 1 }
            }
            return low
        }
    }

    /// One past the last sector of target `index`.
    @inline(__always)
    func end(of index: Int) -> UInt64 { ends[index] }

    /// Where a piece that starts at `sector` inside target `index` ends: the target's end, or
    /// the next `maxIOSectors` boundary of the target before it.
    @inline(__always)
    func pieceEnd(index: Int, sector: UInt64) -> UInt64 {
        let targetEnd = ends[index]
        let limit = maxIO[index]
        guard limit > 0 else { return targetEnd }
        let start = starts[index]
        return min(targetEnd, start + ((sector - start) / limit + 1) * limit)
    }

    /// The target holding `sector`, or `nil` beyond the end.
    public func target(for sector: UInt64) -> TargetInstance? {
        sector < sizeSectors ? targets[targetIndex(for: sector)] : nil
    }

    /// Every line, normalised.
    public var lines: [TableLine] { targets.map(\.line) }

    /// The table as dm text: one normalised line per target, each ending in a newline.
    public var text: String {
        var out = ""
        for target in targets {
            out += target.line.text
            out += "\n"
        }
        return out
    }

    /// Every node any target opened, in table order, without repeats.
    var referencedNodes: [any BlockNode] {
        var seen = Set<ObjectIdentifier>()
        var nodes: [any BlockNode] = []
        for target in targets {
            for node in target.opened where seen.insert(ObjectIdentifier(node)).inserted {
                nodes.append(node)
            }
        }
        return nodes
    }

    /// Drops the table: targets' `destroy` hooks, then closes opened devices. Idempotent.
    func destroy(holder: MappedDevice) {
        guard !destroyed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for instance in targets {
            instance.target.destroy()
            instance.context?.detach()
            for node in instance.opened { node.holders.remove(holder) }
        }
    }
}
