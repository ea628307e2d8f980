/// How a move job rewrites a device's live table (lvm2's `pvmove`): every segment that maps
/// onto `from` becomes a `mirror` of its `from` area (the default mirror, which serves reads)
/// and an area of `to`, with a `disk` log of its own (or a `core` log, when no log backend is
/// named) and `handle_errors`; once the mirrors are in sync the segments become `linear` on
/// `to` alone. Segments that do not touch `from` stay as they are. Pure: table lines in, table
/// lines out.
///
/// A `linear` segment on `from` is mirrored as it is. A `multipath` segment whose paths lead
/// to the backend `from` keeps its paths and its queue in a device of its own (``Segment/
/// holder``: the same multipath line, at the same sectors), which becomes the mirror's first
/// leg: I/O it queues while no path is left stays queued there, and a noflush suspend of the
/// moved device takes it back (``Target/holderNoflushSuspending()``), so every swap of the move
/// works while the paths are down.
///
/// Areas on `to` are laid out in table order from `toOffset`, one after the other.
public struct MovePlan: Sendable, Equatable {
    /// The device that holds a multipath segment during the move.
    public struct Holder: Sendable, Equatable {
        public let name: String
        /// Its table: the segment's multipath line from sector 0 to the segment's end
        /// (multipath does not shift sectors, so the device's sector `s` is the backend's).
        public let table: [TableLine]
    }

    /// One moved segment.
    public struct Segment: Sendable, Equatable {
        /// Its index in the table.
        public let index: Int
        /// Its length in sectors.
        public let length: UInt64
        /// Where its data lives on `from`, and where it goes on `to`.
        public let fromOffset: UInt64
        public let toOffset: UInt64
        /// The backend that holds its region log (`nil`: a `core` log, in memory), and that
        /// log's size in sectors.
        public let log: String?
        public let logSectors: UInt64
        /// For a multipath segment, the device that holds it while it is mirrored.
        public let holder: Holder?
    }

    /// The table as it was (a cancelled move goes back to it).
    public let source: [TableLine]
    /// The table while the data is copied.
    public let mirrored: [TableLine]
    /// The table once it is.
    public let destination: [TableLine]
    public let segments: [Segment]
    public let regionSize: UInt64

    /// Plans a move of `table` from `from` to `to`. EINVAL when no segment maps onto `from`,
    /// when `from` is `to`, when a segment that uses `from` is neither `linear` nor a
    /// `multipath` on paths to `from`, or when the region size is not a power of two; EBUSY
    /// when the table already holds a mirror (a move under way).
    ///
    /// - Parameters:
    ///   - log: the name of segment `n`'s log backend; `nil`: the mirrors keep their region
    ///     state in memory (`core`), and a restart resyncs them from the first region.
    ///   - holder: the name of segment `n`'s holder device (multipath segments).
    ///   - pathBackend: the backend a path leads to (`nil`: not a path).
    public init(
        table: [TableLine], from: String, to: String, toOffset: UInt64, regionSize: UInt64, log: ((Int) -> String)?,
        holder: (Int) -> String = { "holder\($0)" }, pathBackend: (String) -> String? = { _ in nil }
    ) throws {
        guard from != to else { throw MapperError(.EINVAL, "from and to are both '\(from)'") }
        guard regionSize > 0, regionSize & (regionSize - 1) == 0, regionSize <= 1 << 24 else {
            throw MapperError(.EINVAL, "region size \(regionSize) is not a power of two up to 16777216 sectors")
        }
        if table.contains(where: { $0.type == MirrorTarget.type.name }) {
            throw MapperError(.EBUSY, "the table already holds a mirror (a move under way?)")
        }
        var segments: [Segment] = []
        var mirrored: [TableLine] = []
        var destination: [TableLine] = []
        var next = toOffset
        for (index, line) in table.enumerated() {
            let multipath =
                line.type == MultipathTarget.type.name && line.args.contains { pathBackend($0) == from }
            guard multipath || line.args.contains(from) else {
                mirrored.append(line)
                destination.append(line)
                continue
            }
            let fromOffset: UInt64
            var holderDevice: Holder?
            if multipath {
                fromOffset = line.start
                holderDevice = Holder(
                    name: holder(segments.count),
                    table: [TableLine(start: 0, length: line.start + line.length, type: line.type, args: line.args)])
            } else {
                guard line.type == LinearTarget.type.name, line.args.count == 2, let offset = UInt64(line.args[1])
                else {
                    throw MapperError(
                        .EINVAL,
                        "segment at sector \(line.start) (\(line.type)) uses '\(from)' but is neither a linear segment nor a multipath on paths to it"
                    )
                }
                fromOffset = offset
            }
            let (end, overflow) = next.addingReportingOverflow(line.length)
            guard !overflow else { throw MapperError(.EINVAL, "the destination offset overflows") }
            let regions = (line.length + regionSize - 1) / regionSize
            let format = RegionLogFormat(regionSize: regionSize, regionCount: Int(min(regions, UInt64(Int32.max))))
            let segment = Segment(
                index: index, length: line.length, fromOffset: fromOffset, toOffset: next, log: log?(segments.count),
                logSectors: format.sectors, holder: holderDevice)
            segments.append(segment)
            mirrored.append(
                TableLine(
                    start: line.start, length: line.length, type: MirrorTarget.type.name,
                    args: (segment.log.map { ["disk", "2", $0, "\(regionSize)"] } ?? ["core", "1", "\(regionSize)"])
                        + ["2", holderDevice?.name ?? from, "\(fromOffset)", to, "\(next)", "1", "handle_errors"]))
            destination.append(
                TableLine(start: line.start, length: line.length, type: LinearTarget.type.name, args: [to, "\(next)"]))
            next = end
        }
        guard !segments.isEmpty else { throw MapperError(.EINVAL, "no segment of the table maps onto '\(from)'") }
        source = table
        self.mirrored = mirrored
        self.destination = destination
        self.segments = segments
        self.regionSize = regionSize
    }

    /// Sectors copied in all (the moved segments' lengths).
    public var sectors: UInt64 { segments.reduce(0) { $0 + $1.length } }
}
