import Foundation
import MapperCore

/// What the server remembers of a bio once it has ended: its description and outcome, never
/// its payload (an ended bio's buffer is released with the bio itself). Also a live bio's
/// view at one moment.
struct BioSummary: Sendable, Equatable {
    let id: UInt64
    let op: BioOp
    let sector: UInt64
    let sectors: UInt64
    /// Where the bio is in the engine.
    let state: BioState
    /// Whether the journal has committed the bio's place in its queue.
    let durable: Bool
    let error: Errno?
    let idempotencyKey: String?
    let submittedAt: Date
    let completedAt: Date?

    /// The bio as it is now (a live bio's state may change right after).
    init(_ bio: Bio) {
        id = bio.id
        op = bio.op
        sector = bio.sector
        sectors = bio.sectors
        (state, durable, error, completedAt) = bio.outcome
        idempotencyKey = bio.idempotencyKey
        submittedAt = bio.submittedAt
    }

    /// The state the API reports: a queue state (`queued`, `pushback`, `deferred`) promises
    /// that the bio survives a crash of the server, so a bio whose place in a queue the
    /// journal has not committed yet is reported `inflight` until the commit lands.
    var reportedState: BioState { state.isQueued && !durable ? .inflight : state }
}
