import Foundation
import Logging
import MapperCore
import MapperNBD
import MapperPostgres
import MapperStore
import Synchronization

/// Everything a running server holds: the data directory lock, the store, the engine rebuilt
/// from it, and the in-memory bio registry.
public final class MapperRuntime: Sendable {
    public let configuration: ServerConfiguration
    public let manager: DeviceManager
    /// The SQLite store, or the PostgreSQL one (``ServerConfiguration/storeLocation``).
    public let store: any DurableStore
    public let recovery: RecoveryReport
    /// The NBD export, when configured (it listens once run in the service group).
    public let nbd: NBDServer?
    /// The path checker loop (a service of the server's group).
    public let checker: PathChecker
    /// Move jobs (a service of the server's group).
    public let jobs: JobManager
    /// The lease on a shared store (a service of the server's group); nil with the SQLite
    /// store.
    public let leaseKeeper: LeaseKeeper?
    /// An automatic takeover scan is running (``claimExpired()``).
    let takeoverScan = Mutex(false)
    let bios: BioRegistry
    let files: BackendFiles
    let logger: Logger
    private let lock: DataDirectoryLock

    /// Opens the data directory (creating it), takes its lock, opens and migrates the store,
    /// and rebuilds the engine from it. A locked directory is EBUSY; an unreadable database
    /// is EIO naming the file (which is left untouched).
    public init(configuration: ServerConfiguration, logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        let directory = configuration.dataDirectory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            lock = try DataDirectoryLock(directory: directory)
        } catch let error as StoreError {
            throw error.mapperError
        }
        store = try await Self.openStore(configuration: configuration, logger: logger)
        manager = DeviceManager(
            engine: store.engineServices(
                queueLimits: configuration.queueLimits, logger: logger,
                connector: NBDConnector(configuration: configuration.nbdClient), defaultChecker: configuration.checker,
                thinNoSpaceTimeout: configuration.thinNoSpaceTimeout))
        checker = PathChecker(manager: manager, logger: logger)
        let files = BackendFiles(dataDirectory: directory)
        self.files = files
        let store = self.store
        jobs = JobManager(
            manager: manager, logs: Self.moveLogs(files: files, manager: manager),
            nextNumber: { try await store.nextMoveJobNumber() }, coreLogs: store.ownership != nil)
        bios = BioRegistry()
        let manager = self.manager
        nbd = try configuration.nbd.map { try NBDServer(configuration: $0, manager: manager, logger: logger) }
        var owned: Set<String>?
        var leaseTaken = ContinuousClock.now
        if let ownership = store.ownership {
            leaseTaken = .now
            let start = try await ownership.start()
            owned = Set(start.owned.keys)
            for (device, owner) in start.foreign.sorted(by: { $0.key < $1.key }) {
                logger.notice(
                    "device served by another host: not served here (claim it with POST /v1/devices/\(device)/claim once that host's lease ran out)",
                    metadata: ["device": "\(device)", "owner": "\(owner)", "host": "\(ownership.hostID)"])
            }
            ownership.onDeviceLost { name in manager.forgetDevice(named: name) }
        }
        recovery = try await StoreRecovery.recover(
            store: store, into: manager, dataDirectory: directory, logger: logger, devices: owned)
        // On a shared store, only the jobs of the devices this host serves.
        jobs.restore(try await store.moveJobs().filter { owned?.contains($0.device) ?? true })
        for (name, recovered) in recovery.recovered {
            guard let device = try? manager.device(named: name) else { continue }
            for bio in recovered { _ = bios.register(bio, device: device) }
        }
        leaseKeeper = store.ownership.map { ownership in
            LeaseKeeper(ownership: ownership, manager: manager, acquiredAt: leaseTaken, logger: logger)
        }
        if configuration.autoTakeover {
            leaseKeeper?.setTakeover { [weak self] in await self?.claimExpired() }
        }
        logger.info(
            "state recovered",
            metadata: [
                "backends": "\(recovery.backends)", "paths": "\(recovery.paths)", "devices": "\(recovery.devices)",
                "bios": "\(recovery.bios)", "problems": "\(recovery.problems.count)",
            ])
    }

    /// The store the configuration names: PostgreSQL for a `postgres://` location, else the
    /// data directory's SQLite file. A location that does not parse is EINVAL; an unreachable
    /// database EIO.
    static func openStore(configuration: ServerConfiguration, logger: Logger) async throws -> any DurableStore {
        guard let text = configuration.storeLocation else {
            return try SQLiteStore(
                path: DataDirectory.databasePath(in: configuration.dataDirectory), configuration: configuration.store,
                logger: logger)
        }
        let location = try PostgresLocation(text)
        return try await PostgresStore(
            location: location, configuration: configuration.store,
            host: HostIdentity(id: configuration.hostID, lease: configuration.lease), logger: logger)
    }

    /// Move jobs keep their region logs as files `<job>-log<n>.log` in the data directory.
    static func moveLogs(files: BackendFiles, manager: DeviceManager) -> MoveLogStorage {
        MoveLogStorage(
            create: { name, sectors in
                let file = "\(name).log"
                let url = try files.resolve(file)
                // A file left by a crash before its backend was recorded holds nothing of use.
                try? FileManager.default.removeItem(at: url)
                try await manager.createBackend(name: name, file: file, url: url, sizeBytes: sectors * 512)
            },
            remove: { name in
                let url = try files.resolve("\(name).log")
                if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            })
    }

    /// Bios the server keeps in memory: those not ended, and summaries of at most 10,000
    /// ended ones.
    public var bioRegistryCount: Int { bios.count }

    /// Commits what the store has queued and closes it. Call once the server stopped.
    public func close() async {
        manager.closeTransports()
        await store.close()
    }
}
