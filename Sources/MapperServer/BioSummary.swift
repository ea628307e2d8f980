import Foundation
import MapperCore

/// What the server remembers of a bio once it has ended: its description and outcome, never
/// its payload (an ended bio's buffer is released with the bio itself).
struct BioSummary: Sendable, Equatable {
    let id: UInt64
    let op: BioOp
    let sector: UInt64
    let sectors: UInt64
    let state: BioState
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
        (state, error, completedAt) = bio.outcome
        idempotencyKey = bio.idempotencyKey
        submittedAt = bio.submittedAt
    }
}
