import Foundation
import MapperCore
import Synchronization

/// The bios the server knows in memory: every bio submitted through the API (and every bio
/// recovered at start-up) until it has ended and aged out, indexed by id and by
/// (device, idempotency key). Older history comes from the store's journal.
final class BioRegistry: Sendable {
    struct Entry: Sendable {
        let bio: Bio
        let device: MappedDevice
    }

    private struct State {
        var byID: [UInt64: Entry] = [:]
        var byKey: [String: UInt64] = [:]
        var order: [UInt64] = []
    }

    private let state = Mutex(State())
    /// Ended bios kept in memory at most.
    let capacity: Int

    init(capacity: Int = 10_000) { self.capacity = capacity }

    private static func key(_ device: MappedDevice, _ key: String) -> String {
        "\(ObjectIdentifier(device).hashValue)/\(key)"
    }

    /// Registers `bio` unless a bio with the same idempotency key on the same device exists;
    /// returns the bio to report (the earlier one, or `bio`) and whether `bio` is new.
    func register(_ bio: Bio, device: MappedDevice) -> (Bio, isNew: Bool) {
        state.withLock { state in
            if let key = bio.idempotencyKey, let earlier = state.byKey[Self.key(device, key)],
                let entry = state.byID[earlier]
            {
                return (entry.bio, false)
            }
            state.byID[bio.id] = Entry(bio: bio, device: device)
            if let key = bio.idempotencyKey { state.byKey[Self.key(device, key)] = bio.id }
            state.order.append(bio.id)
            if state.order.count > capacity + capacity / 4 { prune(&state) }
            return (bio, true)
        }
    }

    /// Drops the oldest ended bios beyond the capacity (bios not ended are always kept).
    private func prune(_ state: inout State) {
        var kept: [UInt64] = []
        var excess = state.order.count - capacity
        for id in state.order {
            if excess > 0, let entry = state.byID[id], entry.bio.state.isFinal {
                state.byID[id] = nil
                if let key = entry.bio.idempotencyKey { state.byKey[Self.key(entry.device, key)] = nil }
                excess -= 1
            } else {
                kept.append(id)
            }
        }
        state.order = kept
    }

    func entry(id: UInt64) -> Entry? { state.withLock { $0.byID[id] } }

    func bio(device: MappedDevice, idempotencyKey: String) -> Bio? {
        state.withLock { state in state.byKey[Self.key(device, idempotencyKey)].flatMap { state.byID[$0]?.bio } }
    }

    /// Entries, newest first.
    var entries: [Entry] {
        state.withLock { state in state.order.reversed().compactMap { state.byID[$0] } }
    }
}
