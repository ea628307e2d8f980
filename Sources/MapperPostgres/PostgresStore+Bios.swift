import Foundation
import Logging
import MapperCore
import MapperStore
import PostgresNIO
import Synchronization

extension PostgresStore {
    /// Reserves this run's bio ids, as the SQLite store does: a new epoch of 2^32 ids above
    /// every id the store has seen. Hosts sharing the database each get an epoch of their own.
    public func reserveBioIDs() async throws -> UInt64 {
        let floor = Mutex<UInt64>(0)
        try await writer.perform { db, logger in
            // One statement: two hosts starting at once get different epochs.
            var epoch: Int64 = 1
            for try await value in try await db.query(
                """
                INSERT INTO meta(key, value) VALUES ('bio_id_epoch', 1)
                ON CONFLICT (key) DO UPDATE SET value = meta.value + 1 RETURNING value
                """, logger: logger
            ).decode(Int64.self) {
                epoch = value
            }
            let maxID = UInt64(try await Self.scalar(db, "SELECT max(id) FROM bio", logger: logger))
            floor.withLock { $0 = max(UInt64(epoch) << 32, maxID) }
        }
        return floor.withLock { $0 }
    }

    public func markLost(_ ids: [UInt64]) async throws {
        guard !ids.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        let rows = ids.map { Int64($0) }
        try await writer.perform { db, logger in
            try await db.query(
                """
                UPDATE bio SET state = 'failed', error = 'EIO', completed_at = \(now) WHERE id = ANY(\(rows)::bigint[])
                """, logger: logger)
            try await db.query("DELETE FROM bio_payload WHERE id = ANY(\(rows)::bigint[])", logger: logger)
        }
    }

    public func bio(id: UInt64) async throws -> StoredBio? {
        try await storedBios("SELECT \(unescaped: Self.bioColumns) FROM bio WHERE id = \(Int64(id))").first
    }

    public func bios(device: String? = nil, state: BioState? = nil, limit: Int = 1000) async throws -> [StoredBio] {
        try await storedBios(
            """
            SELECT \(unescaped: Self.bioColumns) FROM bio
            WHERE (\(device)::text IS NULL OR device = \(device)) AND (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
            ORDER BY id DESC LIMIT \(Int64(limit))
            """)
    }

    public func bio(device: String, idempotencyKey: String) async throws -> StoredBio? {
        try await storedBios(
            """
            SELECT \(unescaped: Self.bioColumns) FROM bio
            WHERE device = \(device) AND idempotency_key = \(idempotencyKey) AND NOT device_removed
            ORDER BY id DESC LIMIT 1
            """
        ).first
    }

    static let bioColumns =
        "id, device, op, sector, sectors, idempotency_key, state, error, submitted_at, completed_at"

    /// Rows of ``bioColumns`` as records; values this version does not know (a newer writer)
    /// read as a failed write, as in the SQLite store.
    private func storedBios(_ query: PostgresQuery) async throws -> [StoredBio] {
        let logger = self.logger
        return try await reader.use { db in
            var bios: [StoredBio] = []
            let rows = try await db.query(query, logger: logger)
            for try await (id, device, op, sector, sectors, key, state, error, submitted, completed) in rows.decode(
                (Int64, String, String, Int64, Int64, String?, String, String?, Double, Double?).self)
            {
                bios.append(
                    StoredBio(
                        id: UInt64(id), device: device, op: BioOp(rawValue: op) ?? .write, sector: UInt64(sector),
                        sectors: UInt64(sectors), idempotencyKey: key, state: BioState(rawValue: state) ?? .failed,
                        error: error.map { Errno(name: $0) ?? .EIO },
                        submittedAt: Date(timeIntervalSince1970: submitted),
                        completedAt: completed.map { Date(timeIntervalSince1970: $0) }))
            }
            return bios
        }
    }
}
