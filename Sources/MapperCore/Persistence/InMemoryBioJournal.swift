import Synchronization

/// A ``BioJournal`` that keeps its entries in memory and acknowledges at once. The default
/// when the engine runs without a store; tests read ``entries`` to check ordering.
public final class InMemoryBioJournal: BioJournal {
    /// One recorded call.
    public enum Entry: Sendable, Equatable {
        case queued(bio: UInt64, device: String, location: BioLocation, order: Int64)
        case dequeued(bio: UInt64, device: String, location: BioLocation)
        case ended(bio: UInt64, device: String, error: Errno?)
        case renamed(from: String, to: String)
    }

    private let log = Mutex<[Entry]>([])
    private let keepsEntries: Bool

    /// - Parameter keepsEntries: record entries for inspection (tests); `false` keeps nothing.
    public init(keepsEntries: Bool = true) { self.keepsEntries = keepsEntries }

    public var entries: [Entry] { log.withLock { $0 } }

    public func bioQueued(
        _ bio: Bio, device: String, location: BioLocation, order: Int64, firstEntry: Bool, ack: BioJournalAck
    ) {
        if keepsEntries {
            log.withLock { $0.append(.queued(bio: bio.id, device: device, location: location, order: order)) }
        }
        ack.accept()
    }

    public func bioDequeued(_ bioID: UInt64, device: String, location: BioLocation) {
        guard keepsEntries else { return }
        log.withLock { $0.append(.dequeued(bio: bioID, device: device, location: location)) }
    }

    public func bioEnded(_ bioID: UInt64, device: String, error: Errno?) {
        guard keepsEntries else { return }
        log.withLock { $0.append(.ended(bio: bioID, device: device, error: error)) }
    }

    public func deviceRenamed(from: String, to: String) {
        guard keepsEntries else { return }
        log.withLock { $0.append(.renamed(from: from, to: to)) }
    }
}
