import Foundation
import GRDB
import MapperCore

/// The ``BioJournal`` over SQLite: every queue transition becomes a statement in the writer's
/// next group commit; a bio is acknowledged as durably queued after that commit. A write's
/// payload is stored when the bio first enters a queue and dropped when it ends.
public final class SQLiteBioJournal: BioJournal {
    let writer: StoreWriter

    init(writer: StoreWriter) { self.writer = writer }

    public func bioQueued(
        _ bio: Bio, device: String, location: BioLocation, order: Int64, firstEntry: Bool, ack: BioJournalAck
    ) {
        let state = location.bioState.rawValue
        let id = Int64(bio.id)
        let clones = state == "queued" ? 1 : 0
        let done: StoreWriter.Done = { error in
            if error == nil { ack.accept() }
        }
        guard firstEntry else {
            writer.enqueue(
                { db in
                    try db.run(
                        sql: """
                            UPDATE bio SET device = ?, state = ?, queue_order = ?,
                                target_clones = CASE WHEN ? = 'queued' THEN target_clones + 1 ELSE target_clones END
                            WHERE id = ?
                            """,
                        arguments: [device, state, order, state, id])
                }, done: done)
            return
        }
        let op = bio.op.rawValue
        let sector = Int64(bio.sector)
        let sectors = Int64(bio.sectors)
        let key = bio.idempotencyKey
        let submitted = bio.submittedAt.timeIntervalSince1970
        let buffer = bio.op == .write ? bio.buffer : nil
        let offset = bio.bufferOffset
        let length = bio.byteCount
        writer.enqueue(
            { db in
                try db.run(
                    sql: """
                        INSERT OR REPLACE INTO bio(id, device, op, sector, sectors, idempotency_key, submitted_at,
                                                   state, target_clones, queue_order)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [id, device, op, sector, sectors, key, submitted, state, clones, order])
                if let buffer {
                    let payload = Data(bytesNoCopy: buffer.pointer(at: offset), count: length, deallocator: .none)
                    try db.run(
                        sql: "INSERT OR REPLACE INTO bio_payload(id, data) VALUES (?, ?)", arguments: [id, payload])
                }
            }, done: done)
    }

    public func bioDequeued(_ bioID: UInt64, device: String, location: BioLocation) {
        let id = Int64(bioID)
        switch location {
        case .targetQueue:
            writer.enqueue { db in
                try db.run(
                    sql: """
                        UPDATE bio SET target_clones = max(target_clones - 1, 0),
                            state = CASE WHEN target_clones <= 1 AND state = 'queued' THEN 'inflight' ELSE state END
                        WHERE id = ?
                        """,
                    arguments: [id])
            }
        case .pushback, .deferred:
            let from = location == .pushback ? "pushback" : "deferred"
            writer.enqueue { db in
                try db.run(
                    sql: "UPDATE bio SET state = 'inflight' WHERE id = ? AND state = ?", arguments: [id, from])
            }
        }
    }

    public func bioEnded(_ bioID: UInt64, device: String, error: Errno?) {
        let id = Int64(bioID)
        let now = Date().timeIntervalSince1970
        writer.enqueue { db in
            try db.run(
                sql: "UPDATE bio SET state = ?, error = ?, completed_at = ?, target_clones = 0 WHERE id = ?",
                arguments: [error == nil ? "completed" : "failed", error?.name, now, id])
            try db.run(sql: "DELETE FROM bio_payload WHERE id = ?", arguments: [id])
        }
    }

    public func deviceRenamed(from: String, to: String) {
        writer.enqueue { db in try SQLiteStore.renameBios(from: from, to: to, db) }
    }
}
