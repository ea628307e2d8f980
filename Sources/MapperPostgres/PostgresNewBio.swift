import Logging
import MapperCore
import NIOCore
import PostgresNIO

/// A bio's first journal entry (its row, and a write's payload), kept as data rather than as a
/// statement so that the writer can insert a run of them in one statement: one round trip to
/// the server for many bios instead of two for each.
///
/// A run goes in with a plain `INSERT` (``insert(_:_:logger:)``): a bio's id is new when it is
/// first journaled, and an upsert's conflict check cost about a tenth of the rate. Should an id
/// be there already (or listed twice), the statement fails, the writer runs each entry alone
/// in its transaction's retry, and each entry alone is an upsert (``replace(_:logger:)``), as
/// the SQLite journal's `INSERT OR REPLACE`.
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

    /// Rows per statement (bounded so that one statement's arrays stay a few MiB of payload
    /// at most per thousand 4 KiB writes).
    static let rowsPerStatement = 1000

    /// Inserts `rows` and their payloads; fails if any id is journaled already.
    static func insert(_ rows: ArraySlice<PostgresNewBio>, _ db: PostgresConnection, logger: Logger) async throws {
        var start = rows.startIndex
        while start < rows.endIndex {
            let end = min(start + rowsPerStatement, rows.endIndex)
            try await insertChunk(rows[start..<end], db, logger: logger)
            start = end
        }
    }

    /// One statement, whatever the number of rows: the rows' columns and the payloads go as
    /// arrays to one prepared statement (``PostgresNewBioStatement``), which writes both tables,
    /// one round trip in all.
    private static func insertChunk(
        _ rows: ArraySlice<PostgresNewBio>, _ db: PostgresConnection, logger: Logger
    ) async throws {
        var ids: [Int64] = []
        var devices: [String] = []
        var ops: [String] = []
        var sectors: [Int64] = []
        var lengths: [Int64] = []
        var keys: [String] = []
        var keyed: [Bool] = []
        var submitted: [Double] = []
        var states: [String] = []
        var clones: [Int64] = []
        var orders: [Int64] = []
        var payloadIDs: [Int64] = []
        var payloads: [ByteBuffer] = []
        for row in rows {
            ids.append(row.id)
            devices.append(row.device)
            ops.append(row.op)
            sectors.append(row.sector)
            lengths.append(row.sectors)
            keys.append(row.key ?? "")
            keyed.append(row.key != nil)
            submitted.append(row.submitted)
            states.append(row.state)
            clones.append(row.clones)
            orders.append(row.order)
            if let buffer = row.buffer {
                payloadIDs.append(row.id)
                payloads.append(
                    ByteBuffer(bytes: UnsafeRawBufferPointer(start: buffer.pointer(at: row.offset), count: row.length)))
            }
        }
        _ = try await db.execute(
            PostgresNewBioStatement(
                ids: ids, devices: devices, ops: ops, sectors: sectors, lengths: lengths, keys: keys, keyed: keyed,
                submitted: submitted, states: states, clones: clones, orders: orders, payloadIDs: payloadIDs,
                payloads: payloads), logger: logger)
    }

    /// Inserts or replaces this entry and its payload (the entry alone, in its own savepoint).
    func replace(_ db: PostgresConnection, logger: Logger) async throws {
        try await db.query(
            """
            INSERT INTO bio(id, device, op, sector, sectors, idempotency_key, submitted_at, state, target_clones,
                            queue_order)
            VALUES (\(id), \(device), \(op), \(sector), \(sectors), \(key), \(submitted), \(state), \(clones), \(order))
            ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, op = EXCLUDED.op, sector = EXCLUDED.sector,
                sectors = EXCLUDED.sectors, idempotency_key = EXCLUDED.idempotency_key,
                submitted_at = EXCLUDED.submitted_at, state = EXCLUDED.state,
                target_clones = EXCLUDED.target_clones, queue_order = EXCLUDED.queue_order,
                error = NULL, completed_at = NULL, device_removed = FALSE
            """, logger: logger)
        guard let buffer else { return }
        let payload = ByteBuffer(bytes: UnsafeRawBufferPointer(start: buffer.pointer(at: offset), count: length))
        try await db.query(
            """
            INSERT INTO bio_payload(id, data) VALUES (\(id), \(payload))
            ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data
            """, logger: logger)
    }
}
