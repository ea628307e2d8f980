import Foundation
import GRDB
import MapperCore

extension SQLiteStore {
    /// Reads the whole state in one read transaction.
    public func snapshot(recentEvents: Int) async throws -> StoreSnapshot {
        do {
            return try await pool.read { db in try Self.readSnapshot(db, recentEvents: recentEvents) }
        } catch let error as DatabaseError {
            throw StoreError.unreadable(path: path, reason: error.message ?? "\(error.resultCode)").mapperError
        }
    }

    private static func readSnapshot(_ db: Database, recentEvents: Int) throws -> StoreSnapshot {
        var snapshot = StoreSnapshot()
        for row in try Row.fetchAll(db, sql: "SELECT name, file, uri, size_sectors FROM backend ORDER BY name") {
            let file: String? = row["file"]
            let uri: String? = row["uri"]
            snapshot.backends.append(
                .init(
                    name: row["name"], source: file.map { .file($0) } ?? .remote(uri: uri ?? ""),
                    sizeSectors: UInt64(row["size_sectors"] as Int64)))
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM path ORDER BY name") {
            let mode: String = row["fault_mode"]
            let fault = (try? FaultMode(name: mode, delayMs: row["delay_ms"])) ?? .none
            let interval: Int? = row["checker_interval_ms"]
            let timeout: Int? = row["checker_timeout_ms"]
            let checker = interval.flatMap { interval in
                timeout.flatMap { try? CheckerConfig(intervalMs: interval, timeoutMs: $0) }
            }
            snapshot.paths.append(
                .init(
                    name: row["name"], backend: row["backend"], active: row["active"], failCount: row["fail_count"],
                    fault: fault, uri: row["uri"], checker: checker))
        }
        var lines: [String: [TableSlot: [String]]] = [:]
        for row in try Row.fetchAll(
            db, sql: "SELECT device, slot, line FROM table_line ORDER BY device, slot, position")
        {
            // A slot this version does not know (a newer writer) is left out.
            guard let slot = TableSlot(rawValue: row["slot"] as String) else { continue }
            lines[row["device"], default: [:]][slot, default: []].append(row["line"])
        }
        var states: [String: [Int: [String: String]]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT device, target_index, key, value FROM target_state") {
            states[row["device"], default: [:]][row["target_index"], default: [:]][row["key"]] = row["value"]
        }
        for row in try Row.fetchAll(db, sql: "SELECT * FROM device ORDER BY created, name") {
            let name: String = row["name"]
            snapshot.devices.append(
                .init(
                    name: name, uuid: row["uuid"], readOnly: row["read_only"], suspended: row["suspended"],
                    eventNr: UInt32(truncatingIfNeeded: row["event_nr"] as Int64), live: lines[name]?[.live] ?? [],
                    inactive: lines[name]?[.inactive] ?? [], targetStates: states[name] ?? [:],
                    noPathRetry: (try? NoPathRetry(row["no_path_retry"] as String)) ?? .queue))
        }
        // Order the small metadata rows; read payloads separately in rowid order, so SQLite
        // never sorts the blobs.
        var payloads: [Int64: IOBuffer] = [:]
        let (rows, bytes) =
            try Row.fetchOne(db, sql: "SELECT count(*), total(length(data) + 4095) FROM bio_payload")
            .map { (Int($0[0] as Int64), Int($0[1] as Double)) } ?? (0, 0)
        let arena = rows > 0 ? IOArena(capacity: bytes) : nil
        let payloadRows = try Row.fetchCursor(db, sql: "SELECT id, data FROM bio_payload")
        while let row = try payloadRows.next() {
            // One copy, straight from SQLite's memory into the buffer the bio will use.
            payloads[row["id"]] = try row.withUnsafeData(atIndex: 1) { data -> IOBuffer? in
                guard let data else { return nil }
                return data.withUnsafeBytes { raw in
                    guard let address = raw.baseAddress else { return IOBuffer(count: 0) }
                    return arena?.copy(address, count: raw.count) ?? IOBuffer(copying: raw)
                }
            }
        }
        let bioRows = try Row.fetchCursor(
            db,
            sql: """
                SELECT id, device, op, sector, sectors, idempotency_key, submitted_at, state, queue_order
                FROM bio WHERE completed_at IS NULL AND device_removed = 0
                ORDER BY device,
                    CASE state WHEN 'pushback' THEN 0 WHEN 'queued' THEN 1 WHEN 'inflight' THEN 1 ELSE 2 END,
                    queue_order, id
                """)
        while let row = try bioRows.next() {
            let op: String = row["op"]
            let id: Int64 = row["id"]
            snapshot.bios.append(
                .init(
                    id: UInt64(id), device: row["device"], op: BioOp(rawValue: op) ?? .write,
                    sector: UInt64(row["sector"] as Int64), sectors: UInt64(row["sectors"] as Int64),
                    payload: payloads.removeValue(forKey: id), idempotencyKey: row["idempotency_key"],
                    submittedAt: Date(timeIntervalSince1970: row["submitted_at"]),
                    state: BioState(rawValue: row["state"] as String) ?? .inflight))
        }
        let events = try Row.fetchAll(
            db, sql: "SELECT * FROM event ORDER BY seq DESC LIMIT ?", arguments: [recentEvents])
        // A kind this version does not know (written by a newer one) is left out.
        snapshot.recentEvents = events.reversed().compactMap { row in
            EngineEvent.Kind(rawValue: row["kind"]).map { kind in
                EngineEvent(
                    seq: UInt64(row["seq"] as Int64), at: Date(timeIntervalSince1970: row["at"]), kind: kind,
                    device: row["device"], path: row["path"], detail: row["detail"])
            }
        }
        return snapshot
    }
}
