import Foundation
import GRDB
import MapperCore
import Synchronization

/// A journaled bio as the store holds it (for `GET /v1/bios` after the bio left memory).
public struct StoredBio: Sendable, Equatable {
    public let id: UInt64
    public let device: String
    public let op: BioOp
    public let sector: UInt64
    public let sectors: UInt64
    public let idempotencyKey: String?
    public let state: BioState
    public let error: Errno?
    public let submittedAt: Date
    public let completedAt: Date?

    package init(
        id: UInt64, device: String, op: BioOp, sector: UInt64, sectors: UInt64, idempotencyKey: String?,
        state: BioState, error: Errno?, submittedAt: Date, completedAt: Date?
    ) {
        self.id = id
        self.device = device
        self.op = op
        self.sector = sector
        self.sectors = sectors
        self.idempotencyKey = idempotencyKey
        self.state = state
        self.error = error
        self.submittedAt = submittedAt
        self.completedAt = completedAt
    }
}

extension SQLiteStore {
    /// Reserves this run's bio ids: each start takes a new epoch of 2^32 ids above every id
    /// the store has seen, so ids never repeat across restarts (not even ids of bios that were
    /// never journaled). Returns the last id not to use.
    public func reserveBioIDs() async throws -> UInt64 {
        let floor = Mutex<UInt64>(0)
        try await writer.perform { db in
            let epoch = (try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'bio_id_epoch'") ?? 0) + 1
            try db.execute(
                sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('bio_id_epoch', ?)", arguments: [epoch])
            let maxID = UInt64(try Int64.fetchOne(db, sql: "SELECT max(id) FROM bio") ?? 0)
            floor.withLock { $0 = max(UInt64(epoch) << 32, maxID) }
        }
        return floor.withLock { $0 }
    }

    /// Marks bios that cannot be re-issued after a restart (reads: nobody waits for their data
    /// any more) as failed with EIO.
    public func markLost(_ ids: [UInt64]) async throws {
        guard !ids.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        try await writer.perform { db in
            for id in ids {
                try db.execute(
                    sql: "UPDATE bio SET state = 'failed', error = 'EIO', completed_at = ? WHERE id = ?",
                    arguments: [now, Int64(id)])
                try db.execute(sql: "DELETE FROM bio_payload WHERE id = ?", arguments: [Int64(id)])
            }
        }
    }

    /// A journaled bio by id.
    public func bio(id: UInt64) async throws -> StoredBio? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM bio WHERE id = ?", arguments: [Int64(id)]).map(Self.storedBio)
        }
    }

    /// Journaled bios, newest first, optionally filtered.
    public func bios(device: String? = nil, state: BioState? = nil, limit: Int = 1000) async throws -> [StoredBio] {
        var sql = "SELECT * FROM bio WHERE 1"
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let device {
            sql += " AND device = ?"
            arguments.append(device)
        }
        if let state {
            sql += " AND state = ?"
            arguments.append(state.rawValue)
        }
        sql += " ORDER BY id DESC LIMIT ?"
        arguments.append(limit)
        let finalSQL = sql
        let finalArguments = StatementArguments(arguments)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: finalSQL, arguments: finalArguments).map(Self.storedBio)
        }
    }

    /// The newest ended bio of the existing device `device` with this idempotency key, or any
    /// unended one (never one of a removed device that had the same name).
    public func bio(device: String, idempotencyKey: String) async throws -> StoredBio? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM bio WHERE device = ? AND idempotency_key = ? AND device_removed = 0
                    ORDER BY id DESC LIMIT 1
                    """,
                arguments: [device, idempotencyKey]
            ).map(Self.storedBio)
        }
    }

    /// A `bio` row as a record. The text columns hold ``BioOp``, ``BioState`` and errno
    /// names; a value this version does not know (a newer writer) reads as a failed write.
    static func storedBio(_ row: Row) -> StoredBio {
        StoredBio(
            id: UInt64(row["id"] as Int64), device: row["device"],
            op: BioOp(rawValue: row["op"] as String) ?? .write,
            sector: UInt64(row["sector"] as Int64), sectors: UInt64(row["sectors"] as Int64),
            idempotencyKey: row["idempotency_key"], state: BioState(rawValue: row["state"] as String) ?? .failed,
            error: (row["error"] as String?).map { Errno(name: $0) ?? .EIO },
            submittedAt: Date(timeIntervalSince1970: row["submitted_at"]),
            completedAt: (row["completed_at"] as Double?).map { Date(timeIntervalSince1970: $0) })
    }
}
