import Logging
import PostgresNIO

/// A journaled bio's later entries that come by the thousand when an outage ends (every
/// queued bio leaves its target's queue and ends): kept as data so that the writer applies a
/// run of them with two statements instead of one or two round trips each. Each entry also
/// has its own statement (the writer's entry-by-entry retry), with the same effect.
///
/// A run may be applied as "every dequeue, then every end": a bio leaves a queue before it
/// ends and never after, and entries of different bios touch different rows.
enum PostgresBioTransition: Sendable {
    /// One clone of the bio left a target's queue (``PostgresBioJournal``'s `targetQueue`
    /// statement: one fewer clone queued; in flight once none is).
    case dequeued(id: Int64)
    /// The bio ended: its state, error name and time; its payload is dropped.
    case ended(id: Int64, state: String, error: String?, at: Double)

    /// Applies `run` in the order the rules above allow.
    static func apply(_ run: [PostgresBioTransition], _ db: PostgresConnection, logger: Logger) async throws {
        // Dequeues counted per bio: n dequeues are one update by n, as n updates by one.
        var dequeues: [Int64: Int64] = [:]
        var ended: [Int64: (state: String, error: String?, at: Double)] = [:]
        for entry in run {
            switch entry {
            case .dequeued(let id): dequeues[id, default: 0] += 1
            case .ended(let id, let state, let error, let at): ended[id] = (state, error, at)
            }
        }
        if !dequeues.isEmpty {
            let ids = Array(dequeues.keys)
            let counts = ids.map { dequeues[$0] ?? 0 }
            try await db.query(
                """
                UPDATE bio SET target_clones = GREATEST(bio.target_clones - d.n, 0),
                    state = CASE WHEN bio.target_clones <= d.n AND bio.state = 'queued' THEN 'inflight'
                                 ELSE bio.state END
                FROM unnest(\(ids)::bigint[], \(counts)::bigint[]) AS d(id, n)
                WHERE bio.id = d.id
                """, logger: logger)
        }
        if !ended.isEmpty {
            let ids = Array(ended.keys)
            let states = ids.map { ended[$0]?.state ?? "completed" }
            // Error names are never empty: '' stands for none.
            let errors = ids.map { ended[$0]?.error ?? "" }
            let times = ids.map { ended[$0]?.at ?? 0 }
            try await db.query(
                """
                WITH ended AS (
                    UPDATE bio SET state = e.state, error = NULLIF(e.error, ''), completed_at = e.at, target_clones = 0
                    FROM unnest(\(ids)::bigint[], \(states)::text[], \(errors)::text[], \(times)::float8[])
                        AS e(id, state, error, at)
                    WHERE bio.id = e.id)
                DELETE FROM bio_payload WHERE id = ANY(\(ids)::bigint[])
                """, logger: logger)
        }
    }
}
