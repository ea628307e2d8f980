import Foundation
import MapperCore
import Synchronization

/// The bios the server knows in memory: every bio submitted through the API (and every bio
/// recovered at start-up), indexed by id and by (device, idempotency key). Older history comes
/// from the store's journal.
///
/// Memory is bounded: a bio is held only while it has not ended. When it ends (the registry
/// is its end-I/O receiver) its entry shrinks to a ``BioSummary``, so its payload is released
/// as soon as nobody else (the request still answering, the engine) holds the bio. At most
/// `capacity` ended entries are kept (the oldest go first); bios that have not ended are
/// always kept.
final class BioRegistry: Sendable {
    /// A registered bio as the API reports it.
    struct Entry: Sendable {
        let summary: BioSummary
        let device: MappedDevice
    }

    /// What ``register(_:device:)`` found.
    enum Registered: Sendable {
        /// A bio that has not ended (the new one, or an earlier one with the same key).
        case live(Bio)
        /// An earlier bio with the same key, already ended.
        case ended(BioSummary)
    }

    private struct Slot {
        let device: MappedDevice
        /// Set while the bio has not ended.
        var bio: Bio?
        /// Set once it has.
        var ended: BioSummary?

        var summary: BioSummary { ended ?? BioSummary(bio!) }
    }

    /// An idempotency key is scoped to the device it was sent to: the device object (which
    /// the entry's slot keeps alive, so the identity cannot be reused) and the key.
    private struct Key: Hashable {
        let device: ObjectIdentifier
        let key: String

        init(_ device: MappedDevice, _ key: String) {
            self.device = ObjectIdentifier(device)
            self.key = key
        }
    }

    private struct State {
        var byID: [UInt64: Slot] = [:]
        var byKey: [Key: UInt64] = [:]
        var order: [UInt64] = []
    }

    /// Ends a registered bio's entry (the bio's end-I/O receiver; one per bio).
    private final class Release: BlockIOCompletion {
        let registry: BioRegistry
        let id: UInt64

        init(registry: BioRegistry, id: UInt64) {
            self.registry = registry
            self.id = id
        }

        func blockIOCompleted(_ error: Errno?) { registry.ended(id) }
    }

    private let state = Mutex(State())
    /// Ended bios kept in memory at most.
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    /// Registers `bio` (which must have no end-I/O receiver) unless a bio with the same
    /// idempotency key on the same device is known; returns what to report (the earlier bio,
    /// or `bio`) and whether `bio` is new.
    func register(_ bio: Bio, device: MappedDevice) -> (Registered, isNew: Bool) {
        let earlier = state.withLock { state -> Registered? in
            if let key = bio.idempotencyKey, let earlier = state.byKey[Key(device, key)],
                let slot = state.byID[earlier]
            {
                return slot.bio.map(Registered.live) ?? .ended(slot.summary)
            }
            state.byID[bio.id] = Slot(device: device, bio: bio)
            if let key = bio.idempotencyKey { state.byKey[Key(device, key)] = bio.id }
            state.order.append(bio.id)
            if state.order.count > capacity + capacity / 4 { prune(&state) }
            return nil
        }
        if let earlier { return (earlier, false) }
        bio.setEndIO(Release(registry: self, id: bio.id))
        return (.live(bio), true)
    }

    /// Forgets a bio whose submission was refused: it never reached its device, and a retry
    /// with the same idempotency key must be a new attempt.
    func forget(_ id: UInt64) {
        state.withLock { state in
            guard let slot = state.byID.removeValue(forKey: id) else { return }
            if let key = slot.bio?.idempotencyKey ?? slot.ended?.idempotencyKey,
                state.byKey[Key(slot.device, key)] == id
            {
                state.byKey[Key(slot.device, key)] = nil
            }
        }
    }

    /// The bio `id` ended: keep its summary, drop the bio.
    private func ended(_ id: UInt64) {
        state.withLock { state in
            guard var slot = state.byID[id], let bio = slot.bio else { return }
            slot.ended = BioSummary(bio)
            slot.bio = nil
            state.byID[id] = slot
        }
    }

    /// Drops the oldest ended bios beyond the capacity (bios not ended are always kept), and
    /// the ids of forgotten bios. Walks from the oldest end only as far as it must.
    private func prune(_ state: inout State) {
        var excess = state.order.count - capacity
        var stillLive: [UInt64] = []
        var index = 0
        while excess > 0, index < state.order.count {
            let id = state.order[index]
            index += 1
            guard let slot = state.byID[id] else {
                excess -= 1
                continue
            }
            guard let ended = slot.ended else {
                stillLive.append(id)
                continue
            }
            state.byID[id] = nil
            if let key = ended.idempotencyKey { state.byKey[Key(slot.device, key)] = nil }
            excess -= 1
        }
        state.order.replaceSubrange(0..<index, with: stillLive)
    }

    func entry(id: UInt64) -> Entry? {
        state.withLock { state in state.byID[id].map { Entry(summary: $0.summary, device: $0.device) } }
    }

    /// Whether a bio with this key on `device` is known.
    func contains(device: MappedDevice, idempotencyKey: String) -> Bool {
        state.withLock { $0.byKey[Key(device, idempotencyKey)] != nil }
    }

    /// Bios held because they have not ended.
    var liveCount: Int { state.withLock { $0.byID.values.count { $0.bio != nil } } }

    /// Entries kept (live and ended).
    var count: Int { state.withLock { $0.byID.count } }

    /// The bios that have not ended.
    var liveBios: [Bio] { state.withLock { $0.byID.values.compactMap(\.bio) } }

    /// Entries, newest first.
    var entries: [Entry] {
        state.withLock { state in
            state.order.reversed().compactMap { id in
                state.byID[id].map { Entry(summary: $0.summary, device: $0.device) }
            }
        }
    }
}
