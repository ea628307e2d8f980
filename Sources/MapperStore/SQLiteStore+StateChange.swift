import Foundation
import GRDB
import MapperCore

extension SQLiteStore {
    /// Queues one change for the writer's next commit; `done` gets EIO (as ``MapperError``)
    /// when the write fails, and without `done` the failure is logged. Writes nothing (and
    /// reports success) while ``isRecovering``.
    public func enqueue(_ change: StateChange, done: (@Sendable (MapperError?) -> Void)?) {
        guard !isRecovering else {
            done?(nil)
            return
        }
        let order = change.isDeviceCreation ? nextDeviceOrder() : 0
        let logger = self.logger
        writer.enqueue(
            { db in try Self.apply(change, order: order, db) },
            done: { error in
                let failure = error.map { error -> MapperError in
                    if let error = error as? StoreError { return error.mapperError }
                    return MapperError(.EIO, "state not persisted: \(error)")
                }
                if let done {
                    done(failure)
                } else if let failure {
                    logger.error("state not persisted", metadata: ["error": "\(failure)"])
                }
            })
    }

    public func whenCommitted(_ done: @escaping @Sendable () -> Void) {
        writer.enqueue({ _ in }, done: { _ in done() })
    }

    static func apply(_ change: StateChange, order: Int, _ db: Database) throws {
        switch change {
        case .backendAdded(let name, let source, let sectors):
            try db.execute(
                sql: "INSERT OR REPLACE INTO backend(name, file, uri, size_sectors) VALUES (?, ?, ?, ?)",
                arguments: [name, source.file, source.uri, Int64(sectors)])
        case .backendRemoved(let name):
            try db.execute(sql: "DELETE FROM backend WHERE name = ?", arguments: [name])
        case .pathAdded(let name, let backend, let uri, let checker):
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO path(name, backend, uri, checker_interval_ms, checker_timeout_ms)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                arguments: [name, backend, uri, checker?.intervalMs, checker?.timeoutMs])
        case .pathChanged(let info):
            try db.execute(
                sql: """
                    UPDATE path SET active = ?, fail_count = ?, fault_mode = ?, delay_ms = ?,
                        checker_interval_ms = ?, checker_timeout_ms = ? WHERE name = ?
                    """,
                arguments: [
                    info.active, info.failCount, info.fault.name, info.fault.delayMs, info.checker?.intervalMs,
                    info.checker?.timeoutMs, info.name,
                ])
        case .pathRemoved(let name):
            try db.execute(sql: "DELETE FROM path WHERE name = ?", arguments: [name])
        case .deviceCreated(let name, let uuid, let readOnly):
            try db.execute(sql: "DELETE FROM device WHERE name = ?", arguments: [name])
            try db.execute(
                sql:
                    "INSERT INTO device(name, uuid, read_only, suspended, event_nr, created) VALUES (?, ?, ?, 1, 0, ?)",
                arguments: [name, uuid, readOnly, order])
        case .deviceChanged(let info):
            try db.execute(
                sql: "UPDATE device SET suspended = ?, event_nr = ?, uuid = ?, no_path_retry = ? WHERE name = ?",
                arguments: [info.suspended, Int64(info.eventNr), info.uuid, info.noPathRetry.description, info.name])
        case .deviceRenamed(let from, let to):
            try db.execute(sql: "UPDATE device SET name = ? WHERE name = ?", arguments: [to, from])
            try renameBios(from: from, to: to, db)
        case .deviceRemoved(let name):
            try db.execute(sql: "DELETE FROM device WHERE name = ?", arguments: [name])
            try detachBios(ofRemoved: name, db)
        case .tableChanged(let device, let slot, let text):
            try db.execute(
                sql: "DELETE FROM table_line WHERE device = ? AND slot = ?", arguments: [device, slot.rawValue])
            guard let text else { return }
            let statement = try db.makeStatement(
                sql: "INSERT INTO table_line(device, slot, position, line) VALUES (?, ?, ?, ?)")
            var position = 0
            for line in text.split(separator: "\n") where !line.isEmpty {
                try statement.execute(arguments: [device, slot.rawValue, position, String(line)])
                position += 1
            }
        case .targetStates(let device, let states):
            try db.execute(sql: "DELETE FROM target_state WHERE device = ?", arguments: [device])
            for (index, values) in states {
                for (key, value) in values {
                    try db.execute(
                        sql: "INSERT INTO target_state(device, target_index, key, value) VALUES (?, ?, ?, ?)",
                        arguments: [device, index, key, value])
                }
            }
        case .jobChanged(let job):
            let record = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
            try db.execute(
                sql: "INSERT OR REPLACE INTO move_job(id, record) VALUES (?, ?)", arguments: [job.id, record])
        }
    }

    /// Moves the bio rows of the device now called `from` (not those of removed devices that
    /// had that name) to `to`.
    static func renameBios(from: String, to: String, _ db: Database) throws {
        try db.execute(
            sql: "UPDATE bio SET device = ? WHERE device = ? AND device_removed = 0", arguments: [to, from])
    }

    /// Detaches the bio rows of the removed device `name` from the name, so that a later device
    /// with the same name does not inherit them. A row that has not ended can never be
    /// re-issued now (its device is gone): it ends as failed with EIO, as a forced removal
    /// ends the bios it holds.
    static func detachBios(ofRemoved name: String, _ db: Database) throws {
        try db.execute(
            sql: """
                DELETE FROM bio_payload WHERE id IN
                    (SELECT id FROM bio WHERE device = ? AND device_removed = 0 AND completed_at IS NULL)
                """,
            arguments: [name])
        try db.execute(
            sql: """
                UPDATE bio SET state = 'failed', error = 'EIO', completed_at = ?, target_clones = 0
                WHERE device = ? AND device_removed = 0 AND completed_at IS NULL
                """,
            arguments: [Date().timeIntervalSince1970, name])
        try db.execute(
            sql: "UPDATE bio SET device_removed = 1 WHERE device = ? AND device_removed = 0", arguments: [name])
    }

    /// Queues an event for the event table (no wait).
    public func recordEvent(_ event: EngineEvent) {
        writer.enqueue { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO event(seq, at, kind, device, path, detail) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    Int64(event.seq), event.at.timeIntervalSince1970, event.kind.rawValue, event.device, event.path,
                    event.detail,
                ])
        }
    }
}

extension StateChange {
    var isDeviceCreation: Bool {
        if case .deviceCreated = self { return true }
        return false
    }
}
