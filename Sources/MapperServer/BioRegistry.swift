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
/// about `capacity` ended entries are kept (the oldest of each shard go first); bios that
/// have not ended are always kept.
///
/// **Locks.** Entries live in shards chosen by bio id, each with its own lock, so that
/// concurrent requests (whose ids are consecutive) register and end their bios on different
/// locks: there is no server-wide lock per bio. Idempotency keys have one map and one lock of
/// their own, taken only for bios that carry a key. Lock order: the key lock, then a shard;
/// never the other way (pruning collects the keys it frees and drops them after its shard's
/// lock is released).
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

    private struct Shard {
        var byID: [UInt64: Slot] = [:]
        var order: [UInt64] = []
    }

    /// One shard's lock, in a class of its own (a `Mutex` cannot be copied into an array).
    private final class ShardBox: Sendable {
        let state = Mutex(Shard())
    }

    /// Ends a registered bio's entry (the bio's end-I/O receiver; one per bio).
    private final class Release: BlockIOCompletion {
        let registry: BioRegistry
        let id: UInt64

        init(registry: BioRegistry, id: UInt64) {
            self.registry = registry
            self.id = id
        }

        func endIO(_ error: Errno?) { registry.ended(id) }
    }

    private let shards: [ShardBox]
    private let keys = Mutex<[Key: UInt64]>([:])
    /// Ended bios kept in memory at most (over all shards, give or take a quarter).
    let capacity: Int
    private let shardCapacity: Int

    /// - Parameters:
    ///   - capacity: ended bios to keep.
    ///   - shards: how many locks to spread entries over; by default one per processor, with
    ///     at least 256 entries of capacity each.
    init(capacity: Int = 10_000, shards: Int? = nil) {
        self.capacity = capacity
        let count = max(1, shards ?? min(ProcessInfo.processInfo.activeProcessorCount, capacity / 256))
        self.shards = (0..<count).map { _ in ShardBox() }
        shardCapacity = max(1, capacity / count)
    }

    private func shard(_ id: UInt64) -> ShardBox { shards[Int(id % UInt64(shards.count))] }

    /// Registers `bio` (which must have no end-I/O receiver) unless a bio with the same
    /// idempotency key on the same device is known; returns what to report (the earlier bio,
    /// or `bio`) and whether `bio` is new.
    func register(_ bio: Bio, device: MappedDevice) -> (Registered, isNew: Bool) {
        let box = shard(bio.id)
        if let key = bio.idempotencyKey {
            // Look-up and insertion in one step under the key lock: two requests with one key
            // cannot both be new.
            let earlier = keys.withLock { keys -> Registered? in
                if let earlier = keys[Key(device, key)],
                    let slot = shard(earlier).state.withLock({ $0.byID[earlier] })
                {
                    return slot.bio.map(Registered.live) ?? .ended(slot.summary)
                }
                keys[Key(device, key)] = bio.id
                for (freed, id) in insert(bio, device: device, into: box) where keys[freed] == id {
                    keys[freed] = nil
                }
                return nil
            }
            if let earlier { return (earlier, false) }
        } else {
            dropKeys(insert(bio, device: device, into: box))
        }
        bio.setEndIO(Release(registry: self, id: bio.id))
        return (.live(bio), true)
    }

    /// Inserts `bio` into its shard; returns the keys its shard's pruning freed, for the
    /// caller to drop (under the key lock, which it may hold already).
    private func insert(_ bio: Bio, device: MappedDevice, into box: ShardBox) -> [(Key, UInt64)] {
        box.state.withLock { shard -> [(Key, UInt64)] in
            shard.byID[bio.id] = Slot(device: device, bio: bio)
            shard.order.append(bio.id)
            return shard.order.count > shardCapacity + shardCapacity / 4 ? prune(&shard) : []
        }
    }

    /// Forgets a bio whose submission was refused: it never reached its device, and a retry
    /// with the same idempotency key must be a new attempt.
    func forget(_ id: UInt64) {
        let slot = shard(id).state.withLock { $0.byID.removeValue(forKey: id) }
        guard let slot, let key = slot.bio?.idempotencyKey ?? slot.ended?.idempotencyKey else { return }
        dropKeys([(Key(slot.device, key), id)])
    }

    /// Drops keys that still name the bio they were freed for.
    private func dropKeys(_ freed: [(Key, UInt64)]) {
        guard !freed.isEmpty else { return }
        keys.withLock { keys in
            for (key, id) in freed where keys[key] == id { keys[key] = nil }
        }
    }

    /// The bio `id` ended: keep its summary, drop the bio.
    private func ended(_ id: UInt64) {
        shard(id).state.withLock { shard in
            guard var slot = shard.byID[id], let bio = slot.bio else { return }
            slot.ended = BioSummary(bio)
            slot.bio = nil
            shard.byID[id] = slot
        }
    }

    /// Drops a shard's oldest ended bios beyond its capacity (bios not ended are always
    /// kept), and the ids of forgotten bios; returns the idempotency keys it freed. Walks from
    /// the oldest end only as far as it must.
    private func prune(_ shard: inout Shard) -> [(Key, UInt64)] {
        var excess = shard.order.count - shardCapacity
        var stillLive: [UInt64] = []
        var freed: [(Key, UInt64)] = []
        var index = 0
        while excess > 0, index < shard.order.count {
            let id = shard.order[index]
            index += 1
            guard let slot = shard.byID[id] else {
                excess -= 1
                continue
            }
            guard let ended = slot.ended else {
                stillLive.append(id)
                continue
            }
            shard.byID[id] = nil
            if let key = ended.idempotencyKey { freed.append((Key(slot.device, key), id)) }
            excess -= 1
        }
        shard.order.replaceSubrange(0..<index, with: stillLive)
        return freed
    }

    func entry(id: UInt64) -> Entry? {
        shard(id).state.withLock { $0.byID[id].map { Entry(summary: $0.summary, device: $0.device) } }
    }

    /// Whether a bio with this key on `device` is known.
    func contains(device: MappedDevice, idempotencyKey: String) -> Bool {
        keys.withLock { $0[Key(device, idempotencyKey)] != nil }
    }

    /// Bios held because they have not ended.
    var liveCount: Int { shards.reduce(0) { sum, box in sum + box.state.withLock { $0.byID.values.count { $0.bio != nil } } } }

    /// Entries kept (live and ended).
    var count: Int { shards.reduce(0) { sum, box in sum + box.state.withLock { $0.byID.count } } }

    /// The bios that have not ended.
    var liveBios: [Bio] { shards.flatMap { box in box.state.withLock { $0.byID.values.compactMap(\.bio) } } }

    /// Entries, newest (highest id) first.
    var entries: [Entry] {
        shards.flatMap { box in
            box.state.withLock { shard in
                shard.byID.map { (id: $0.key, entry: Entry(summary: $0.value.summary, device: $0.value.device)) }
            }
        }
        .sorted { $0.id > $1.id }
        .map(\.entry)
    }
}
