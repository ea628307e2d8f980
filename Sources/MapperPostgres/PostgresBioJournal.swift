import Foundation
import MapperCore
import NIOCore
import PostgresNIO

/// The ``BioJournal`` on PostgreSQL: every queue transition becomes a statement in the writer's
/// next group commit; a bio is acknowledged as durably queued after that commit. A write's
/// payload is stored when the bio first enters a queue and dropped when it ends (the SQLite
/// journal's rules, statement for statement). First entries, dequeues from a target's queue
/// and ends are also handed to the writer as data, which applies runs of them together.
final class PostgresBioJournal: BioJournal {
    let writer: PostgresWriter

    init(writer: PostgresWriter) { self.writer = writer }

    func bioQueued(
        _ bio: Bio, device: String, location: BioLocation, order: Int64, firstEntry: Bool, ack: BioJournalAck
    ) {
        let state = location.bioState.rawValue
        let id = Int64(bio.id)
        let clones: Int64 = state == "queued" ? 1 : 0
        let done: PostgresWriter.Done = { error in
            if error == nil { ack.accept() }
        }
        guard firstEntry else {
            writer.enqueue(
                { db, logger in
                    try await db.query(
                        """
                        UPDATE bio SET device = \(device), state = \(state), queue_order = \(order),
                            target_clones = CASE WHEN \(state) = 'queued' THEN target_clones + 1 ELSE target_clones END
                        WHERE id = \(id)
                        """, logger: logger)
                }, device: device, done: done)
            return
        }
        writer.enqueue(
            newBio: PostgresNewBio(
                id: id, device: device, op: bio.op.rawValue, sector: Int64(bio.sector), sectors: Int64(bio.sectors),
                key: bio.idempotencyKey, submitted: bio.submittedAt.timeIntervalSince1970, state: state, clones: clones,
                order: order, buffer: bio.op == .write ? bio.buffer : nil, offset: bio.bufferOffset,
                length: bio.byteCount),
            done: done)
    }

    func bioDequeued(_ bioID: UInt64, device: String, location: BioLocation) {
        let id = Int64(bioID)
        switch location {
        case .targetQueue:
            writer.enqueue(transition: .dequeued(id: id), device: device) { db, logger in
                try await db.query(
                    """
                    UPDATE bio SET target_clones = GREATEST(target_clones - 1, 0),
                        state = CASE WHEN target_clones <= 1 AND state = 'queued' THEN 'inflight' ELSE state END
                    WHERE id = \(id)
                    """, logger: logger)
            }
        case .pushback, .deferred:
            let from = location == .pushback ? "pushback" : "deferred"
            writer.enqueue(device: device) { db, logger in
                try await db.query(
                    "UPDATE bio SET state = 'inflight' WHERE id = \(id) AND state = \(from)", logger: logger)
            }
        }
    }

    func bioEnded(_ bioID: UInt64, device: String, error: Errno?) {
        let id = Int64(bioID)
        let now = Date().timeIntervalSince1970
        let state = error == nil ? "completed" : "failed"
        let name = error?.name
        writer.enqueue(transition: .ended(id: id, state: state, error: name, at: now), device: device) { db, logger in
            try await db.query(
                """
                UPDATE bio SET state = \(state), error = \(name), completed_at = \(now), target_clones = 0 WHERE id = \(id)
                """, logger: logger)
            try await db.query("DELETE FROM bio_payload WHERE id = \(id)", logger: logger)
        }
    }

    func deviceRenamed(from: String, to: String) {
        writer.enqueue(device: from) { db, logger in
            try await PostgresStore.renameBios(from: from, to: to, db, logger: logger)
        }
    }
}
