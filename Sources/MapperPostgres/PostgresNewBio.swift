import Logging
import MapperCore
import NIOCore
import PostgresNIO

/// A bio's first journal entry (its row, and a write's payload), kept as data rather than as a
/// statement so that the writer can insert a run of them in one statement per table: one
/// round trip to the server for many bios instead of two for each.
struct PostgresNewBio: Sendable {
    let id: Int64
    let device: String
    let op: String
    let sector: Int64
    let sectors: Int64
    let key: String?
    let submitted: Double
    let state: String
    let clones: Int64
    let order: Int64
    /// A write's payload: `length` bytes at `offset` of `buffer`, read at commit time (the
    /// buffer does not change once the bio is queued).
    let buffer: IOBuffer?
    let offset: Int
    let length: Int

    /// Rows per statement (each row binds 10 values; PostgreSQL takes at most 65,535).
    static let rowsPerStatement = 1000

    /// Inserts (or replaces) `rows`, in order, and their payloads.
    static func insert(_ rows: ArraySlice<PostgresNewBio>, _ db: PostgresConnection, logger: Logger) async throws {
        var start = rows.startIndex
        while start < rows.endIndex {
            let end = min(start + rowsPerStatement, rows.endIndex)
            try await insertChunk(rows[start..<end], db, logger: logger)
            start = end
        }
    }

    private static func insertChunk(
        _ rows: ArraySlice<PostgresNewBio>, _ db: PostgresConnection, logger: Logger
    ) async throws {
        var bindings = PostgresBindings(capacity: rows.count * 10)
        var values: [String] = []
        var payloadBindings = PostgresBindings()
        var payloadValues: [String] = []
        for row in rows {
            let base = bindings.count
            values.append("(" + (1...10).map { "$\(base + $0)" }.joined(separator: ", ") + ")")
            try bindings.append(row.id)
            try bindings.append(row.device)
            try bindings.append(row.op)
            try bindings.append(row.sector)
            try bindings.append(row.sectors)
            try bindings.append(row.key)
            try bindings.append(row.submitted)
            try bindings.append(row.state)
            try bindings.append(row.clones)
            try bindings.append(row.order)
            if let buffer = row.buffer {
                let payload = ByteBuffer(
                    bytes: UnsafeRawBufferPointer(start: buffer.pointer(at: row.offset), count: row.length))
                payloadValues.append("($\(payloadBindings.count + 1), $\(payloadBindings.count + 2))")
                try payloadBindings.append(row.id)
                try payloadBindings.append(payload)
            }
        }
        // A bio listed twice in one statement cannot be updated twice by it: the writer then
        // runs each entry alone (its savepoint path), which is always correct.
        try await db.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO bio(id, device, op, sector, sectors, idempotency_key, submitted_at, state, target_clones,
                                    queue_order)
                    VALUES \(values.joined(separator: ", "))
                    ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, op = EXCLUDED.op, sector = EXCLUDED.sector,
                        sectors = EXCLUDED.sectors, idempotency_key = EXCLUDED.idempotency_key,
                        submitted_at = EXCLUDED.submitted_at, state = EXCLUDED.state,
                        target_clones = EXCLUDED.target_clones, queue_order = EXCLUDED.queue_order,
                        error = NULL, completed_at = NULL, device_removed = FALSE
                    """, binds: bindings), logger: logger)
        guard !payloadValues.isEmpty else { return }
        try await db.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO bio_payload(id, data) VALUES \(payloadValues.joined(separator: ", "))
                    ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data
                    """, binds: payloadBindings), logger: logger)
    }
}
