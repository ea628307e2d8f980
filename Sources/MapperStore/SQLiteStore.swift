import Foundation
import GRDB
import Logging
import MapperCore
import ServiceLifecycle
import Synchronization

/// mapperd's state in SQLite (WAL, through GRDB): the ``StateStore`` and ``BioJournal`` of
/// the engine, the event log, and the snapshot that start-up recovery rebuilds the engine
/// from. The only module that imports GRDB; its types never leave it.
///
/// Every write goes through one writer that group-commits on GRDB's serial writer (see
/// ``StoreWriter``); no caller's thread waits for a commit. State changes are enqueued and
/// acknowledged asynchronously (``StateStore``); journal entries and events are enqueued in
/// the same order, and a queued bio is acknowledged to the engine only after the commit that
/// holds it. Reads use GRDB's async reads.
///
/// As a `Service` (first in the application's service group, so it stops last) it runs until
/// graceful shutdown and then commits what is queued and closes.
public final class SQLiteStore: DurableStore, Sendable {
    public let path: String
    public let configuration: StoreConfiguration
    let pool: DatabasePool
    let writer: StoreWriter
    /// The bio journal; it shares the writer, so its entries and state changes commit in order.
    public let sqliteJournal: SQLiteBioJournal
    public var journal: any BioJournal { sqliteJournal }
    let logger: Logger
    private let recovering = Atomic<Bool>(false)
    private let deviceOrder = Atomic<Int>(0)

    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    /// A file that is not a readable SQLite database throws ``StoreError/unreadable(path:reason:)``;
    /// the file is left as it is.
    public init(
        path: String, configuration: StoreConfiguration = StoreConfiguration(),
        logger: Logger = Logger(label: "mapperd.store")
    ) throws {
        self.path = path
        self.configuration = configuration
        self.logger = logger
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(5)
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Once a checkpoint lets the WAL restart, keep its file at most 64 MiB.
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Migrations.migrator().migrate(pool)
            let created = try pool.read { db in try Int.fetchOne(db, sql: "SELECT max(created) FROM device") ?? 0 }
            deviceOrder.store(created, ordering: .relaxed)
        } catch let error as DatabaseError {
            throw StoreError.unreadable(
                path: path,
                reason:
                    "\(error.message ?? "\(error.resultCode)") (\(error.extendedResultCode), sql: \(error.sql ?? "-"))")
        } catch let error as MapperError {
            throw error
        } catch {
            throw StoreError.unreadable(path: path, reason: "\(error)")
        }
        let retention = configuration
        writer = StoreWriter(pool: pool, logger: logger) { db, commits in
            // Prune ended bios and old events every 64 commits.
            guard commits % 64 == 1 else { return }
            SQLiteStore.prune(db, retention: retention)
        }
        sqliteJournal = SQLiteBioJournal(writer: writer)
    }

    /// The writer's group-commit counters.
    public var statistics: StoreStatistics { writer.statistics }

    /// Holds back every commit until ``releaseCommits()`` (fault injection: a disk that takes
    /// that long); nothing queued meanwhile is durable. ``close()`` commits it.
    public func holdCommits() { writer.holdCommits() }

    /// Commits what was held back.
    public func releaseCommits() { writer.releaseCommits() }

    /// Whether commits are held back, and how many items wait for a commit.
    public var commitHold: (held: Bool, waiting: Int) { writer.hold }

    /// Commits what is queued and stops the writer. Later writes fail with ``StoreError/closed``.
    public func close() async { await writer.stop() }

    /// Runs until graceful shutdown (or cancellation), then ``close()``s.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// The names of the migrations applied to the database, in order.
    public func appliedMigrations() async throws -> [String] {
        let migrator = try Migrations.migrator()
        return try await pool.read { db in try migrator.appliedMigrations(db) }
    }

    /// While set, ``record(_:)`` writes nothing: start-up recovery replays the engine from
    /// the store and must neither duplicate nor destroy what is there.
    public var isRecovering: Bool {
        get { recovering.load(ordering: .acquiring) }
        set { recovering.store(newValue, ordering: .releasing) }
    }

    func nextDeviceOrder() -> Int { deviceOrder.add(1, ordering: .relaxed).newValue }

    static func prune(_ db: Database, retention: StoreConfiguration) {
        let cutoff = Date().timeIntervalSince1970 - retention.retentionSeconds
        do {
            try db.execute(
                sql: "DELETE FROM bio WHERE completed_at IS NOT NULL AND completed_at < ?", arguments: [cutoff])
            try db.execute(
                sql: """
                    DELETE FROM bio WHERE completed_at IS NOT NULL AND id NOT IN
                    (SELECT id FROM bio WHERE completed_at IS NOT NULL ORDER BY id DESC LIMIT ?)
                    """,
                arguments: [retention.retentionCount])
            try db.execute(
                sql: "DELETE FROM event WHERE seq <= (SELECT max(seq) FROM event) - ?",
                arguments: [retention.eventRetention])
        } catch {
            // Pruning is best effort; the next round tries again.
        }
    }
}
