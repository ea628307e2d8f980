import Foundation
import Logging
import MapperCore
import MapperStore
import NIOCore
import PostgresNIO

extension PostgresStore {
    /// Reads the whole state in one repeatable-read transaction (one consistent view, as the
    /// SQLite store's read transaction).
    public func snapshot(recentEvents: Int) async throws -> StoreSnapshot {
        let logger = self.logger
        do {
            return try await reader.use { db in
                try await db.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
                do {
                    let snapshot = try await Self.readSnapshot(
                        db, recentEvents: recentEvents, host: eventHost, logger: logger)
                    try await db.query("COMMIT", logger: logger)
                    return snapshot
                } catch {
                    _ = try? await db.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as MapperError {
            throw error
        } catch {
            throw MapperError(.EIO, "store \(location.description) unreadable: \(String(reflecting: error))")
        }
    }

    private static func readSnapshot(
        _ db: PostgresConnection, recentEvents: Int, host: String, logger: Logger
    ) async throws -> StoreSnapshot {
        var snapshot = StoreSnapshot()
        for try await (name, file, uri, sectors) in try await db.query(
            "SELECT name, file, uri, size_sectors FROM backend ORDER BY name", logger: logger
        ).decode((String, String?, String?, Int64).self) {
            snapshot.backends.append(
                .init(
                    name: name, source: file.map { .file($0) } ?? .remote(uri: uri ?? ""), sizeSectors: UInt64(sectors)
                ))
        }
        for try await (name, backend, active, failCount, mode, delay, uri, interval, timeout) in try await db.query(
            """
            SELECT name, backend, active, fail_count, fault_mode, delay_ms, uri, checker_interval_ms, checker_timeout_ms
            FROM path ORDER BY name
            """, logger: logger
        ).decode((String, String, Bool, Int64, String, Int64?, String?, Int64?, Int64?).self) {
            let fault = (try? FaultMode(name: mode, delayMs: delay.map { Int($0) })) ?? .none
            let checker = interval.flatMap { interval in
                timeout.flatMap { try? CheckerConfig(intervalMs: Int(interval), timeoutMs: Int($0)) }
            }
            snapshot.paths.append(
                .init(
                    name: name, backend: backend, active: active, failCount: Int(failCount), fault: fault, uri: uri,
                    checker: checker))
        }
        var lines: [String: [TableSlot: [String]]] = [:]
        for try await (device, slotName, line) in try await db.query(
            "SELECT device, slot, line FROM table_line ORDER BY device, slot, position", logger: logger
        ).decode((String, String, String).self) {
            // A slot this version does not know (a newer writer) is left out.
            guard let slot = TableSlot(rawValue: slotName) else { continue }
            lines[device, default: [:]][slot, default: []].append(line)
        }
        var states: [String: [Int: [String: String]]] = [:]
        for try await (device, index, key, value) in try await db.query(
            "SELECT device, target_index, key, value FROM target_state", logger: logger
        ).decode((String, Int64, String, String).self) {
            states[device, default: [:]][Int(index), default: [:]][key] = value
        }
        for try await (name, uuid, readOnly, suspended, eventNr, retry) in try await db.query(
            "SELECT name, uuid, read_only, suspended, event_nr, no_path_retry FROM device ORDER BY created, name",
            logger: logger
        ).decode((String, String?, Bool, Bool, Int64, String).self) {
            snapshot.devices.append(
                .init(
                    name: name, uuid: uuid, readOnly: readOnly, suspended: suspended,
                    eventNr: UInt32(truncatingIfNeeded: eventNr), live: lines[name]?[.live] ?? [],
                    inactive: lines[name]?[.inactive] ?? [], targetStates: states[name] ?? [:],
                    noPathRetry: (try? NoPathRetry(retry)) ?? .queue))
        }
        var payloads: [Int64: IOBuffer] = [:]
        for try await (id, data) in try await db.query(
            """
            SELECT p.id, p.data FROM bio_payload p JOIN bio b ON b.id = p.id
            WHERE b.completed_at IS NULL AND NOT b.device_removed
            """, logger: logger
        ).decode((Int64, ByteBuffer).self) {
            payloads[id] = data.withUnsafeReadableBytes { IOBuffer(copying: $0) }
        }
        for try await (id, device, op, sector, sectors, key, submitted, state) in try await db.query(
            """
            SELECT id, device, op, sector, sectors, idempotency_key, submitted_at, state
            FROM bio WHERE completed_at IS NULL AND NOT device_removed
            ORDER BY device,
                CASE state WHEN 'pushback' THEN 0 WHEN 'queued' THEN 1 WHEN 'inflight' THEN 1 ELSE 2 END,
                queue_order, id
            """, logger: logger
        ).decode((Int64, String, String, Int64, Int64, String?, Double, String).self) {
            snapshot.bios.append(
                .init(
                    id: UInt64(id), device: device, op: BioOp(rawValue: op) ?? .write, sector: UInt64(sector),
                    sectors: UInt64(sectors), payload: payloads.removeValue(forKey: id), idempotencyKey: key,
                    submittedAt: Date(timeIntervalSince1970: submitted), state: BioState(rawValue: state) ?? .inflight))
        }
        var events: [EngineEvent] = []
        for try await (seq, at, kind, device, path, detail) in try await db.query(
            """
            SELECT seq, at, kind, device, path, detail FROM event WHERE host = \(host) OR host = ''
            ORDER BY seq DESC LIMIT \(Int64(recentEvents))
            """, logger: logger
        ).decode((Int64, Double, String, String?, String?, String).self) {
            // A kind this version does not know (written by a newer one) is left out.
            guard let kind = EngineEvent.Kind(rawValue: kind) else { continue }
            events.append(
                EngineEvent(
                    seq: UInt64(seq), at: Date(timeIntervalSince1970: at), kind: kind, device: device, path: path,
                    detail: detail))
        }
        snapshot.recentEvents = events.reversed()
        return snapshot
    }
}
