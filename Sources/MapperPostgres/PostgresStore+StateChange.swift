import Foundation
import Logging
import MapperCore
import MapperStore
import PostgresNIO

extension PostgresStore {
    /// Queues one change for the writer's next commit (the ``StateStore`` contract): `done`
    /// gets EIO when the write fails; without `done` the failure is logged. Writes nothing
    /// (and reports success) while ``isRecovering``.
    public func enqueue(_ change: StateChange, done: (@Sendable (MapperError?) -> Void)?) {
        guard !isRecovering, !isReplaying(change) else {
            done?(nil)
            return
        }
        var order = 0
        if case .deviceCreated = change { order = nextDeviceOrder() }
        let logger = self.logger
        let owner = fence?.host.id
        let device = change.device
        // A creation is this host's once committed (the database refuses a name another host
        // serves); the engine awaits it before writing anything else for the device.
        var created: String?
        if let fence {
            switch change {
            case .deviceCreated(let name, _, _): created = name
            case .deviceRemoved(let name): fence.forget(name)
            case .deviceRenamed(let from, let to): fence.rename(from, to: to)
            default: break
            }
        }
        writer.enqueue(
            { [order] connection, logger in
                try await Self.apply(change, order: order, owner: owner, connection, logger: logger)
            }, device: device,
            done: { [fence, created] error in
                if error == nil, let created { fence?.own(created, epoch: 1) }
                let failure = error.map { error -> MapperError in
                    if let error = error as? StoreError { return error.mapperError }
                    if let error = error as? MapperError { return error }
                    return MapperError(.EIO, "state not persisted: \(String(reflecting: error))")
                }
                if let done {
                    done(failure)
                } else if let failure {
                    logger.error("state not persisted", metadata: ["error": "\(failure)"])
                }
            })
    }

    public func whenCommitted(_ done: @escaping @Sendable () -> Void) {
        writer.enqueue({ _, _ in }, done: { _ in done() })
    }

    /// Runs `change` (`owner`: this host, when the store is shared).
    static func apply(
        _ change: StateChange, order: Int, owner: String?, _ db: PostgresConnection, logger: Logger
    ) async throws {
        switch change {
        case .backendAdded(let name, let source, let sectors):
            try await db.query(
                """
                INSERT INTO backend(name, file, uri, size_sectors) VALUES (\(name), \(source.file), \(source.uri), \(Int64(sectors)))
                ON CONFLICT (name) DO UPDATE SET file = EXCLUDED.file, uri = EXCLUDED.uri, size_sectors = EXCLUDED.size_sectors
                """, logger: logger)
        case .backendRemoved(let name):
            try await db.query("DELETE FROM backend WHERE name = \(name)", logger: logger)
        case .pathAdded(let name, let backend, let uri, let checker):
            let interval = checker.map { Int64($0.intervalMs) }
            let timeout = checker.map { Int64($0.timeoutMs) }
            try await db.query(
                """
                INSERT INTO path(name, backend, uri, checker_interval_ms, checker_timeout_ms)
                VALUES (\(name), \(backend), \(uri), \(interval), \(timeout))
                ON CONFLICT (name) DO UPDATE SET backend = EXCLUDED.backend, uri = EXCLUDED.uri,
                    checker_interval_ms = EXCLUDED.checker_interval_ms, checker_timeout_ms = EXCLUDED.checker_timeout_ms,
                    active = TRUE, fail_count = 0, fault_mode = 'none', delay_ms = NULL
                """, logger: logger)
        case .pathChanged(let info):
            let delay = info.fault.delayMs.map { Int64($0) }
            let interval = info.checker.map { Int64($0.intervalMs) }
            let timeout = info.checker.map { Int64($0.timeoutMs) }
            try await db.query(
                """
                UPDATE path SET active = \(info.active), fail_count = \(Int64(info.failCount)), fault_mode = \(info.fault.name),
                    delay_ms = \(delay), checker_interval_ms = \(interval), checker_timeout_ms = \(timeout)
                WHERE name = \(info.name)
                """, logger: logger)
        case .pathRemoved(let name):
            try await db.query("DELETE FROM path WHERE name = \(name)", logger: logger)
        case .deviceCreated(let name, let uuid, let readOnly):
            if let owner {
                for try await other in try await db.query(
                    "SELECT owner FROM device WHERE name = \(name) AND owner IS NOT NULL AND owner <> \(owner)",
                    logger: logger
                ).decode(String.self) {
                    throw MapperError(.EEXIST, "device '\(name)' exists and is served by host '\(other)'")
                }
            }
            try await db.query("DELETE FROM device WHERE name = \(name)", logger: logger)
            try await db.query(
                """
                INSERT INTO device(name, uuid, read_only, suspended, event_nr, created, owner, epoch)
                VALUES (\(name), \(uuid), \(readOnly), TRUE, 0, \(Int64(order)), \(owner), 1)
                """, logger: logger)
        case .deviceChanged(let info):
            try await db.query(
                """
                UPDATE device SET suspended = \(info.suspended), event_nr = \(Int64(info.eventNr)), uuid = \(info.uuid),
                    no_path_retry = \(info.noPathRetry.description)
                WHERE name = \(info.name)
                """, logger: logger)
        case .deviceRenamed(let from, let to):
            try await db.query("UPDATE device SET name = \(to) WHERE name = \(from)", logger: logger)
            try await renameBios(from: from, to: to, db, logger: logger)
        case .deviceRemoved(let name):
            try await db.query("DELETE FROM device WHERE name = \(name)", logger: logger)
            try await detachBios(ofRemoved: name, db, logger: logger)
        case .tableChanged(let device, let slot, let text):
            try await db.query(
                "DELETE FROM table_line WHERE device = \(device) AND slot = \(slot.rawValue)", logger: logger)
            guard let text else { return }
            let lines = text.split(separator: "\n").filter { !$0.isEmpty }.map(String.init)
            guard !lines.isEmpty else { return }
            // One statement for the whole table: the lines as an array, numbered by position.
            try await db.query(
                """
                INSERT INTO table_line(device, slot, position, line)
                SELECT \(device), \(slot.rawValue), ordinality - 1, line FROM unnest(\(lines)::text[]) WITH ORDINALITY AS t(line, ordinality)
                """, logger: logger)
        case .targetStates(let device, let states):
            try await db.query("DELETE FROM target_state WHERE device = \(device)", logger: logger)
            for (index, values) in states {
                for (key, value) in values {
                    try await db.query(
                        """
                        INSERT INTO target_state(device, target_index, key, value)
                        VALUES (\(device), \(Int64(index)), \(key), \(value))
                        """, logger: logger)
                }
            }
        case .jobChanged(let job):
            let record = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
            try await db.query(
                """
                INSERT INTO move_job(id, record) VALUES (\(job.id), \(record))
                ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record
                """, logger: logger)
        }
    }

    /// Moves the bio rows of the device now called `from` (not those of removed devices that
    /// had that name) to `to`.
    static func renameBios(from: String, to: String, _ db: PostgresConnection, logger: Logger) async throws {
        try await db.query(
            "UPDATE bio SET device = \(to) WHERE device = \(from) AND NOT device_removed", logger: logger)
    }

    /// Detaches the bio rows of the removed device `name` (as the SQLite store does): rows not
    /// ended fail with EIO and lose their payload, and no later device of that name sees them.
    static func detachBios(ofRemoved name: String, _ db: PostgresConnection, logger: Logger) async throws {
        try await db.query(
            """
            DELETE FROM bio_payload WHERE id IN
                (SELECT id FROM bio WHERE device = \(name) AND NOT device_removed AND completed_at IS NULL)
            """, logger: logger)
        try await db.query(
            """
            UPDATE bio SET state = 'failed', error = 'EIO', completed_at = \(Date().timeIntervalSince1970), target_clones = 0
            WHERE device = \(name) AND NOT device_removed AND completed_at IS NULL
            """, logger: logger)
        try await db.query(
            "UPDATE bio SET device_removed = TRUE WHERE device = \(name) AND NOT device_removed", logger: logger)
    }

    /// Queues an event for the event table (no wait), under this host's id (``eventHost``).
    public func recordEvent(_ event: EngineEvent) {
        let host = eventHost
        writer.enqueue { db, logger in
            try await db.query(
                """
                INSERT INTO event(host, seq, at, kind, device, path, detail)
                VALUES (\(host), \(Int64(event.seq)), \(event.at.timeIntervalSince1970), \(event.kind.rawValue),
                        \(event.device), \(event.path), \(event.detail))
                ON CONFLICT (host, seq) DO UPDATE SET at = EXCLUDED.at, kind = EXCLUDED.kind, device = EXCLUDED.device,
                    path = EXCLUDED.path, detail = EXCLUDED.detail
                """, logger: logger)
        }
    }
}
