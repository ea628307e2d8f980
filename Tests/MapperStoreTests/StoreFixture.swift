import Foundation
import Logging
import MapperCore
import MapperPostgres
import MapperStore
import MapperTestSupport
import Testing

/// A data directory with a store and an engine over it, which can be "crashed" (dropped with
/// no shutdown) and rebuilt from the same database (the data directory's SQLite file, or a
/// PostgreSQL database of its own).
final class StoreFixture: @unchecked Sendable {
    let directory: URL
    let kind: StoreKind
    /// The PostgreSQL database's location.
    private let location: String?
    private(set) var store: any DurableStore
    private(set) var manager: DeviceManager
    private var abandoned: [(any DurableStore, DeviceManager)] = []

    init(_ kind: StoreKind = .sqlite) async throws {
        self.kind = kind
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("mapperd-store-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        location = kind == .postgres ? try await PostgresTestServer.database() : nil
        store = try await Self.open(kind, directory: directory, location: location)
        manager = DeviceManager(engine: store.engineServices())
    }

    private static func open(_ kind: StoreKind, directory: URL, location: String?) async throws -> any DurableStore {
        switch kind {
        case .sqlite:
            return try SQLiteStore(path: directory.appendingPathComponent("mapperd.sqlite").path)
        case .postgres:
            return try await PostgresStore(location: PostgresLocation(location ?? ""))
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var databasePath: String { directory.appendingPathComponent("mapperd.sqlite").path }

    /// Drops the engine and the store without any shutdown (no final flush, nothing closed),
    /// opens the database again and recovers.
    @discardableResult
    func crashAndRecover() async throws -> RecoveryReport {
        abandoned.append((store, manager))
        store = try await Self.open(kind, directory: directory, location: location)
        manager = DeviceManager(engine: store.engineServices())
        return try await StoreRecovery.recover(
            store: store, into: manager, dataDirectory: directory, logger: Logger(label: "test"))
    }

    func backend(_ name: String, sectors: UInt64) async throws {
        try await manager.createBackend(
            name: name, file: "\(name).img", url: directory.appendingPathComponent("\(name).img"),
            sizeBytes: sectors * 512)
    }

    func fileBytes(_ name: String, sector: Int, sectors: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: directory.appendingPathComponent("\(name).img"))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(sector * 512))
        return Array(try handle.read(upToCount: sectors * 512) ?? Data())
    }

    /// A write submitted and waited on until the journal made it durable (or it ended).
    func queuedWrite(_ device: MappedDevice, sector: UInt64, sectors: UInt64 = 8, byte: UInt8) async throws -> Bio {
        let bio = manager.makeBio(
            op: .write, sector: sector, sectors: sectors,
            buffer: IOBuffer(copying: [UInt8](repeating: byte, count: Int(sectors) * 512)))
        try device.submit(bio)
        await bio.waitUntilEndedOrDurablyQueued()
        return bio
    }

    /// Waits until `bios` have ended and the store has committed what their ends journaled.
    func settle(_ bios: [Bio]) async {
        for bio in bios { _ = await bio.wait() }
        await store.committed()
    }

    static let multipath = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"

    /// backend `disk` (4096 sectors), paths p1 p2, multipath device `mp` with queueing.
    func multipathSetup() async throws -> MappedDevice {
        try await backend("disk", sectors: 4096)
        try await manager.createPath(name: "p1", backend: "disk")
        try await manager.createPath(name: "p2", backend: "disk")
        return try await manager.createDevice(name: "mp", table: TableParser.parse(Self.multipath))
    }
}
