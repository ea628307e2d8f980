import Foundation
import MapperCore
import Synchronization

/// The bios the server knows in memory: every bio submitted through the API (and every bio
/// recovered at start-up), found by id and by (device, idempotency key). Older history comes
/// from the store's journal.
///
/// **Memory is bounded.** Each registered bio has a ``Record``, its end-I/O receiver, which
/// holds the bio until it ends and only its ``BioSummary`` after, so an ended bio's payload is
/// released as soon as nobody else (the request still answering, the engine) holds it.
/// Records live in rings, one per shard: a new registration takes the place of the shard's
/// oldest. The oldest ended bio is dropped there; one that has not ended is moved aside
/// (`parked`) and kept until it ends, then dropped at the shard's next sweep of parked
/// records (at the latest when its ring next wraps around). So about `capacity` recent bios
/// are kept, ended or not, plus every bio that has not ended.
///
/// **Cost per bio.** Registering stores two words in a ring under the shard's lock; ending
/// takes only the record's own lock (no look-up). No hashing, no pruning walk: a bio sent
/// without an idempotency key touches no shared map. Finding a bio by id (`GET
/// /v1/bios/{id}`, rare beside data requests) scans its shard's ring of ids from the newest.
///
/// **Locks.** Shards are chosen by bio id, each with its own lock, so concurrent requests
/// (whose ids are consecutive) register on different locks: there is no server-wide lock per
/// bio. Idempotency keys have one map and one lock of their own, taken only for bios that
/// carry a key. Lock order: the key lock, then a shard, then a record; never the other way
/// (a shard returns the keys it freed, and they are dropped after its lock is released).
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

    /// An idempotency key is scoped to the device it was sent to: the device object (which
    /// the key's record keeps alive, so the identity cannot be reused) and the key.
    private struct Key: Hashable {
        let device: ObjectIdentifier
        let key: String

        init(_ device: MappedDevice, _ key: String) {
            self.device = ObjectIdentifier(device)
            self.key = key
        }
    }

    private struct Shard {
        /// The ring: ids (0 for an empty place) beside their records, so that a look-up by id
        /// reads one array of words.
        var ids: [UInt64]
        var records: [Record?]
        /// Where the next registration goes (the oldest place).
        var next = 0
        /// Records pushed out of the ring before their bio ended.
        var parked: [UInt64: Record] = [:]
        /// Parked count at which ended parked records are swept out.
        var sweepAt = BioRegistry.minimumSweep

        init(capacity: Int) {
            ids = Array(repeating: 0, count: capacity)
            records = Array(repeating: nil, count: capacity)
        }

        /// Where `id` is in the ring: scans from the newest, since recent bios are asked for
        /// most.
        func index(of id: UInt64) -> Int? {
            var index = next
            for _ in 0..<ids.count {
                index = index == 0 ? ids.count - 1 : index - 1
                if ids[index] == id { return index }
            }
            return nil
        }

        func record(_ id: UInt64) -> Record? {
            if let index = index(of: id) { return records[index] }
            return parked[id]
        }

        var all: [(id: UInt64, record: Record)] {
            var all: [(id: UInt64, record: Record)] = []
            all.reserveCapacity(ids.count + parked.count)
            for (id, record) in zip(ids, records) where id != 0 {
                if let record { all.append((id, record)) }
            }
            for (id, record) in parked { all.append((id, record)) }
            return all
        }
    }

    /// One shard's lock, in a class of its own (a `Mutex` cannot be copied into an array).
    private final class ShardBox: Sendable {
        let state: Mutex<Shard>
        init(capacity: Int) { state = Mutex(Shard(capacity: capacity)) }
    }

    private static let minimumSweep = 64

    private let shards: [ShardBox]
    private let keys = Mutex<[Key: UInt64]>([:])
    /// Recent bios kept in memory (over all shards), besides those that have not ended.
    let capacity: Int

    /// - Parameters:
    ///   - capacity: recent bios to keep.
    ///   - shards: how many locks to spread entries over; by default one per processor, with
    ///     at least 256 places each.
    init(capacity: Int = 10_000, shards: Int? = nil) {
        self.capacity = capacity
        let count = max(1, shards ?? min(ProcessInfo.processInfo.activeProcessorCount, capacity / 256))
        let shardCapacity = max(1, capacity / count)
        self.shards = (0..<count).map { _ in ShardBox(capacity: shardCapacity) }
    }

    private func shard(_ id: UInt64) -> ShardBox { shards[Int(id % UInt64(shards.count))] }

    /// A new bio for `device`, registered, with its record as its end-I/O receiver from the
    /// start (the bio's end then takes no lock of the bio's own). The caller submits it, or
    /// fails it if the submission is refused: until it ends, it and its record refer to each
    /// other.
    func makeBio(
        on device: MappedDevice, manager: DeviceManager, op: BioOp, sector: UInt64, sectors: UInt64,
        buffer: IOBuffer?
    ) -> Bio {
        let record = Record(device: device)
        let bio = manager.makeBio(op: op, sector: sector, sectors: sectors, buffer: buffer, endIO: record)
        record.attach(bio)
        dropKeys(insert(record, id: bio.id))
        return bio
    }

    /// Registers `bio` (which must have no end-I/O receiver) unless a bio with the same
    /// idempotency key on the same device is known; returns what to report (the earlier bio,
    /// or `bio`) and whether `bio` is new.
    func register(_ bio: Bio, device: MappedDevice) -> (Registered, isNew: Bool) {
        let record = Record(device: device)
        record.attach(bio)
        if let key = bio.idempotencyKey {
            // Look-up and insertion in one step under the key lock: two requests with one key
            // cannot both be new.
            let earlier = keys.withLock { keys -> Registered? in
                if let earlier = keys[Key(device, key)],
                    let found = shard(earlier).state.withLock({ $0.record(earlier) })?.registered
                {
                    return found
                }
                keys[Key(device, key)] = bio.id
                for (freed, id) in insert(record, id: bio.id) where keys[freed] == id {
                    keys[freed] = nil
                }
                return nil
            }
            if let earlier { return (earlier, false) }
        } else {
            dropKeys(insert(record, id: bio.id))
        }
        bio.setEndIO(record)
        return (.live(bio), true)
    }

    /// Puts `record` in its shard's ring in place of the oldest; returns the idempotency keys
    /// this freed, for the caller to drop (under the key lock, which it may hold already).
    private func insert(_ record: Record, id: UInt64) -> [(Key, UInt64)] {
        shard(id).state.withLock { shard -> [(Key, UInt64)] in
            let index = shard.next
            let wrapped = index + 1 == shard.ids.count
            shard.next = wrapped ? 0 : index + 1
            var freed: [(Key, UInt64)] = []
            if let old = shard.records[index] {
                let oldID = shard.ids[index]
                switch old.phase {
                case .live:
                    shard.parked[oldID] = old
                case .ended(let key):
                    if let key { freed.append((Key(old.device, key), oldID)) }
                }
            }
            shard.ids[index] = id
            shard.records[index] = record
            if !shard.parked.isEmpty, wrapped || shard.parked.count >= shard.sweepAt {
                sweep(&shard, freeing: &freed)
            }
            return freed
        }
    }

    /// Drops the parked records whose bios have ended. Runs each time the ring wraps around (so
    /// an ended parked bio stays findable about as long as one in the ring), and sooner once
    /// twice as many are parked as after the last sweep (at least ``minimumSweep``): a sweep
    /// walks the parked records, and there is one per ring's worth of registrations, or per
    /// doubling of what is parked.
    private func sweep(_ shard: inout Shard, freeing freed: inout [(Key, UInt64)]) {
        for (id, record) in shard.parked {
            guard case .ended(let key) = record.phase else { continue }
            shard.parked[id] = nil
            if let key { freed.append((Key(record.device, key), id)) }
        }
        shard.sweepAt = max(Self.minimumSweep, 2 * shard.parked.count)
    }

    /// Forgets a bio whose submission was refused: it never reached its device, and a retry
    /// with the same idempotency key must be a new attempt.
    func forget(_ id: UInt64) {
        let record = shard(id).state.withLock { shard -> Record? in
            if let index = shard.index(of: id) {
                defer {
                    shard.ids[index] = 0
                    shard.records[index] = nil
                }
                return shard.records[index]
            }
            return shard.parked.removeValue(forKey: id)
        }
        guard let record, let key = record.idempotencyKey else { return }
        dropKeys([(Key(record.device, key), id)])
    }

    /// Drops keys that still name the bio they were freed for.
    private func dropKeys(_ freed: [(Key, UInt64)]) {
        guard !freed.isEmpty else { return }
        keys.withLock { keys in
            for (key, id) in freed where keys[key] == id { keys[key] = nil }
        }
    }

    func entry(id: UInt64) -> Entry? {
        guard let record = shard(id).state.withLock({ $0.record(id) }), let summary = record.summary else { return nil }
        return Entry(summary: summary, device: record.device)
    }

    /// Whether a bio with this key on `device` is known.
    func contains(device: MappedDevice, idempotencyKey: String) -> Bool {
        keys.withLock { $0[Key(device, idempotencyKey)] != nil }
    }

    private var records: [(id: UInt64, record: Record)] { shards.flatMap { box in box.state.withLock(\.all) } }

    /// Bios held because they have not ended.
    var liveCount: Int { records.count { $0.record.bio != nil } }

    /// Entries kept (live and ended).
    var count: Int { records.count }

    /// The bios that have not ended.
    var liveBios: [Bio] { records.compactMap(\.record.bio) }

    /// Entries, newest (highest id) first.
    var entries: [Entry] {
        records.sorted { $0.id > $1.id }.compactMap { item in
            item.record.summary.map { Entry(summary: $0, device: item.record.device) }
        }
    }
}
