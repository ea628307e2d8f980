import Foundation
import Logging
import MapperCore
import MapperStore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// mapperd's state on PostgreSQL (`--store postgres://…`): the same ``DurableStore`` contract
/// as the SQLite store, and the same tables. The only module that imports PostgresNIO; its
/// types never leave it.
///
/// Writes go through one writer on its own connection that group-commits (``PostgresWriter``);
/// a bio is acknowledged as durably queued only after the commit that holds it returned
/// (PostgreSQL's `synchronous_commit` decides what that commit survives: on, its default, a
/// crash of the database server's host too). Reads use a second connection.
///
/// As a `Service` (first in the server's group, so it stops last) it runs until graceful
/// shutdown, then commits what is queued and closes.
public final class PostgresStore: DurableStore, Sendable {
    public let location: PostgresLocation
    public let configuration: StoreConfiguration
    let writer: PostgresWriter
    let reader: PostgresLink
    let writeLink: PostgresLink
    let logger: Logger
    let postgresJournal: PostgresBioJournal
    /// Ownership among hosts (nil: no host identity given; rows carry no owner).
    let fence: PostgresFence?
    /// The lease's own connection, so that a busy writer never delays a renewal.
    let leaseLink: PostgresLink
    /// Whose events this store writes and reads: the host's id ('' without one). Each host
    /// numbers its events itself.
    let eventHost: String
    private let recovering = Atomic<Bool>(false)
    /// Objects a claim is rebuilding (``setReplaying(_:)``).
    let replaying = Mutex<Set<String>>([])
    private let deviceOrder = Atomic<Int>(0)
    private let loop: Task<Void, Never>

    /// Connects to the database at `location` and applies pending migrations. An unreachable
    /// server, a refused login or a failed migration throws EIO naming the location. With a
    /// `host`, the store is shared: devices carry this host as owner, writes are fenced by
    /// epoch, and ``ownership`` must be started before recovery.
    public init(
        location: PostgresLocation, configuration: StoreConfiguration = StoreConfiguration(),
        host: HostIdentity? = nil, logger: Logger = Logger(label: "mapperd.store")
    ) async throws {
        self.location = location
        self.configuration = configuration
        self.logger = logger
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)
        reader = PostgresLink(location: location, logger: quiet)
        writeLink = PostgresLink(location: location, logger: quiet)
        leaseLink = PostgresLink(location: location, logger: quiet)
        let created: Int64
        do {
            try await PostgresMigrations.apply(on: writeLink, logger: quiet)
            created = try await reader.use { connection in
                try await Self.scalar(connection, "SELECT COALESCE(max(created), 0) FROM device", logger: quiet)
            }
        } catch {
            await writeLink.close()
            await reader.close()
            await leaseLink.close()
            throw error
        }
        deviceOrder.store(Int(created), ordering: .relaxed)
        let retention = configuration
        let fence = host.map { PostgresFence(host: $0) }
        self.fence = fence
        let eventHost = host?.id ?? ""
        self.eventHost = eventHost
        var check: PostgresWriter.Fence?
        if let fence {
            check = { @Sendable (devices: Set<String>, db: PostgresConnection, logger: Logger) in
                try await fence.check(devices, db, logger: logger)
            }
        }
        let writer = PostgresWriter(link: writeLink, logger: logger, fence: check) { connection, logger, commits in
            // Prune ended bios and old events every 64 commits.
            guard commits % 64 == 1 else { return }
            await Self.prune(connection, retention: retention, host: eventHost, logger: logger)
        }
        self.writer = writer
        postgresJournal = PostgresBioJournal(writer: writer)
        loop = Task { await writer.run() }
    }

    public var journal: any BioJournal { postgresJournal }

    public var statistics: StoreStatistics { writer.statistics }

    public var commitCount: Int { writer.commitCount }

    public func holdCommits() { writer.holdCommits() }

    public func releaseCommits() { writer.releaseCommits() }

    public var commitHold: (held: Bool, waiting: Int) { writer.hold }

    public func close() async {
        await writer.stop()
        await loop.value
        await writeLink.close()
        await reader.close()
        await leaseLink.close()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    public var isRecovering: Bool {
        get { recovering.load(ordering: .acquiring) }
        set { recovering.store(newValue, ordering: .releasing) }
    }

    /// The names of the migrations applied to the database, in order.
    public func appliedMigrations() async throws -> [String] {
        try await reader.use { connection in
            var names: [String] = []
            for try await name in try await connection.query(
                "SELECT name FROM mapperd_migration ORDER BY name", logger: logger
            ).decode(String.self) {
                names.append(name)
            }
            return names
        }
    }

    func nextDeviceOrder() -> Int { deviceOrder.add(1, ordering: .relaxed).newValue }

    /// The first column of the first row of `query`, as a number (0 without rows).
    static func scalar(_ connection: PostgresConnection, _ query: PostgresQuery, logger: Logger) async throws -> Int64 {
        for try await value in try await connection.query(query, logger: logger).decode(Int64?.self) {
            return value ?? 0
        }
        return 0
    }

    static func prune(
        _ connection: PostgresConnection, retention: StoreConfiguration, host: String, logger: Logger
    ) async {
        let cutoff = Date().timeIntervalSince1970 - retention.retentionSeconds
        do {
            try await connection.query("SAVEPOINT prune", logger: logger)
        } catch {
            return
        }
        do {
            try await connection.query(
                "DELETE FROM bio WHERE completed_at IS NOT NULL AND completed_at < \(cutoff)", logger: logger)
            try await connection.query(
                """
                DELETE FROM bio WHERE completed_at IS NOT NULL AND id NOT IN
                (SELECT id FROM bio WHERE completed_at IS NOT NULL ORDER BY id DESC LIMIT \(retention.retentionCount))
                """, logger: logger)
            try await connection.query(
                """
                DELETE FROM event WHERE host = \(host)
                    AND seq <= (SELECT max(seq) FROM event WHERE host = \(host)) - \(retention.eventRetention)
                """, logger: logger)
            try await connection.query("RELEASE SAVEPOINT prune", logger: logger)
        } catch {
            // Best effort: undone alone, and the next round tries again.
            _ = try? await connection.query("ROLLBACK TO SAVEPOINT prune", logger: logger)
            logger.warning("pruning failed", metadata: ["error": "\(error)"])
        }
    }
}
