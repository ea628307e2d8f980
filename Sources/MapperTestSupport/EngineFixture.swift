import Foundation
import MapperCore

/// An engine over a fresh temporary directory, with in-memory persistence, the `test` target
/// registered, and helpers for backends and byte-level I/O.
public final class EngineFixture: Sendable {
    public let directory: URL
    public let manager: DeviceManager
    public let journal: InMemoryBioJournal
    public let store: any StateStore
    public let controlled = ControlledTargets()

    public init(
        queueLimits: QueueLimits = .defaults, store: any StateStore = InMemoryStateStore(),
        connector: (any RemoteConnector)? = nil, defaultChecker: CheckerConfig = .defaults,
        thinNoSpaceTimeout: Duration = .seconds(60), thinCommitPeriod: Duration = .seconds(1)
    ) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mapperd-test-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        journal = InMemoryBioJournal()
        self.store = store
        let registry = TargetRegistry()
        registry.register(controlled.type)
        manager = DeviceManager(
            engine: EngineServices(
                targetTypes: registry, journal: journal, store: store, queueLimits: queueLimits, connector: connector,
                defaultChecker: defaultChecker, thinNoSpaceTimeout: thinNoSpaceTimeout,
                thinCommitPeriod: thinCommitPeriod))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    public var engine: EngineServices { manager.engine }

    /// Creates a sparse backend file of `sectors` sectors named `name`.
    @discardableResult
    public func backend(_ name: String, sectors: UInt64) async throws -> FileBackend {
        try await manager.createBackend(
            name: name, file: "\(name).img", url: directory.appendingPathComponent("\(name).img"),
            sizeBytes: sectors * 512)
    }

    /// Move jobs' log storage over this fixture's directory (`<name>.img` files, as
    /// ``backend(_:sectors:)`` makes them).
    public var moveLogs: MoveLogStorage {
        let directory = directory
        let manager = manager
        return MoveLogStorage(
            create: { name, sectors in
                let url = directory.appendingPathComponent("\(name).img")
                try? FileManager.default.removeItem(at: url)
                try await manager.createBackend(name: name, file: "\(name).img", url: url, sizeBytes: sectors * 512)
            },
            remove: { name in try FileManager.default.removeItem(at: directory.appendingPathComponent("\(name).img")) })
    }

    /// The raw bytes of a backend's file at a byte range (checks data byte for byte).
    public func fileBytes(_ name: String, offset: Int, count: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: directory.appendingPathComponent("\(name).img"))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        return Array(try handle.read(upToCount: count) ?? Data())
    }

    /// A device created with `table` text.
    @discardableResult
    public func device(_ name: String, table: String, readOnly: Bool = false) async throws -> MappedDevice {
        try await manager.createDevice(name: name, readOnly: readOnly, table: TableParser.parse(table))
    }

    /// A write bio of `sectors` sectors filled with `byte`.
    public func writeBio(sector: UInt64, sectors: UInt64, byte: UInt8) -> Bio {
        manager.makeBio(
            op: .write, sector: sector, sectors: sectors,
            buffer: IOBuffer(copying: [UInt8](repeating: byte, count: Int(sectors) * 512)))
    }

    /// A read bio of `sectors` sectors.
    public func readBio(sector: UInt64, sectors: UInt64) -> Bio {
        manager.makeBio(op: .read, sector: sector, sectors: sectors, buffer: IOBuffer(count: Int(sectors) * 512))
    }

    /// Writes `sectors` sectors of `byte` and returns the bio's error.
    public func write(_ device: MappedDevice, sector: UInt64, sectors: UInt64, byte: UInt8) async throws -> Errno? {
        try await device.perform(writeBio(sector: sector, sectors: sectors, byte: byte))
    }

    /// Reads `sectors` sectors; throws the bio's errno on failure.
    public func read(_ device: MappedDevice, sector: UInt64, sectors: UInt64) async throws -> [UInt8] {
        let bio = readBio(sector: sector, sectors: sectors)
        if let error = try await device.perform(bio) { throw error }
        return bio.buffer?.bytes ?? []
    }

    /// Waits for the first event of `kind` after sequence number `after` and returns it.
    @discardableResult
    public func waitForEvent(_ kind: EngineEvent.Kind, after: UInt64) async -> EngineEvent? {
        await engine.events.first(kind, after: after)
    }

    /// Waits for events of `kind` naming each of `paths` (in any order) after `after`.
    public func waitForEvents(_ kind: EngineEvent.Kind, paths: Set<String>, after: UInt64) async {
        var missing = paths
        var seen = after
        while !missing.isEmpty, !Task.isCancelled {
            guard let event = await engine.events.first(kind, after: seen) else { return }
            seen = event.seq
            if let path = event.path { missing.remove(path) }
        }
    }

    /// Runs the path checker until `body` returns.
    public func withPathChecker<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        let checker = PathChecker(manager: manager, logger: engine.logger)
        let task = Task { try await checker.run() }
        defer { task.cancel() }
        return try await body()
    }
}
