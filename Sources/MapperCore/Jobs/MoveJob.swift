import Foundation

/// A move job as it is persisted and shown: what it moves, where its machine is, and its
/// progress. The plan's three tables are derived again from ``source`` (``plan()``), so the
/// record stays small and a restart rebuilds exactly the same tables.
public struct MoveJob: Sendable, Equatable, Codable {
    /// `move-N`.
    public let id: String
    public let device: String
    public let from: String
    public let to: String
    /// Where the first moved segment goes on `to`, in sectors.
    public let toOffset: UInt64
    public let regionSize: UInt64
    /// The device's live table when the job was made, line by line.
    public let source: [String]
    /// `true`: the mirrors keep their region state in memory (`core` logs), as on a store
    /// shared by hosts, where a log file in one host's data directory is out of another's
    /// reach; a restart, or another host taking the device over, resyncs from the first
    /// region. `nil` (records made before it existed) or `false`: a `disk` log each, in a
    /// backend the job makes, so a restart resyncs only the regions that may differ.
    public let coreLogs: Bool?
    public var machine: MoveJobMachine
    /// Bytes in sync so far, and in all.
    public var copiedBytes: UInt64
    public let totalBytes: UInt64
    /// The copy rate measured over the last samples (bytes per second).
    public var bytesPerSecond: UInt64
    public let started: Date
    public var updated: Date

    public init(
        id: String, device: String, from: String, to: String, toOffset: UInt64, regionSize: UInt64, source: [String],
        rate: UInt64, totalBytes: UInt64, started: Date, coreLogs: Bool = false
    ) {
        self.id = id
        self.device = device
        self.from = from
        self.to = to
        self.toOffset = toOffset
        self.regionSize = regionSize
        self.source = source
        self.coreLogs = coreLogs
        machine = MoveJobMachine(rate: rate)
        copiedBytes = 0
        self.totalBytes = totalBytes
        bytesPerSecond = 0
        self.started = started
        updated = started
    }

    /// The name of segment `index`'s log backend.
    public func logName(_ index: Int) -> String { "\(id)-log\(index)" }

    /// The name of segment `index`'s holder device (a multipath segment's, ``MovePlan/Holder``).
    public func holderName(_ index: Int) -> String { "\(id)-src\(index)" }

    /// The move's tables (the same every time: the source text is the record's, and a path
    /// never changes its backend).
    ///
    /// - Parameter pathBackend: the backend a path leads to (`nil`: not a path).
    public func plan(pathBackend: (String) -> String?) throws -> MovePlan {
        let table = try TableParser.parse(source.joined(separator: "\n"))
        let log: ((Int) -> String)? = coreLogs == true ? nil : { logName($0) }
        return try MovePlan(
            table: table, from: from, to: to, toOffset: toOffset, regionSize: regionSize, log: log,
            holder: holderName, pathBackend: pathBackend)
    }

    /// Seconds left at the measured rate (`nil`: not syncing or no rate yet).
    public var etaSeconds: UInt64? {
        guard machine.phase == .syncing, !machine.paused, bytesPerSecond > 0 else { return nil }
        return (totalBytes - min(copiedBytes, totalBytes) + bytesPerSecond - 1) / bytesPerSecond
    }
}
