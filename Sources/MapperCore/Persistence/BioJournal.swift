/// The seam through which the engine makes queued bios durable (implemented over SQLite by
/// the store module; ``InMemoryBioJournal`` for tests and for running without persistence).
///
/// Contract:
/// - The device calls these methods under its own lock, in the exact order of the queue
///   transitions, so the journal sees every list in its true order. They must not block and
///   must not call back into the engine, except through ``BioJournalAck/accept()``.
/// - A bio counts as durably queued only once the journal calls the entry's ack (after its
///   commit, typically a group commit shared by many bios). Until then clients are not told it
///   is queued (`Prefer: respond-async` keeps waiting).
/// - `order` sorts bios within one list (lower first). Pushed-back bios moved to the head of
///   `deferred` get orders below every bio already there.
public protocol BioJournal: AnyObject, Sendable {
    /// `bio` entered `location` on `device`. `firstEntry` is true the first time the journal
    /// hears of the bio (store its payload then: a write's payload is `bio.buffer`, and it does
    /// not change later).
    func bioQueued(
        _ bio: Bio, device: String, location: BioLocation, order: Int64, firstEntry: Bool, ack: BioJournalAck)
    /// The bio left `location` (dispatched, re-issued, pushed back or failed).
    func bioDequeued(_ bioID: UInt64, device: String, location: BioLocation)
    /// A bio that had been journaled ended (`nil` = success).
    func bioEnded(_ bioID: UInt64, device: String, error: Errno?)
    /// Every bio of `device` moved to `to` (rename of a device).
    func deviceRenamed(from: String, to: String)
}

/// Acknowledges that a ``BioJournal`` entry is durable.
public struct BioJournalAck: Sendable {
    let bio: Bio
    let state: BioState

    /// Marks the bio durably queued (if it is still where the entry put it).
    public func accept() { bio.markDurable(for: state) }
}
