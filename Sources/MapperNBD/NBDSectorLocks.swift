/// Exclusive locks on single sectors of an export, held across the read and the write of a
/// read-modify-write so that two of them on the same sector cannot interleave (which would
/// lose one of two writes to different bytes of that sector). Shared by every connection of
/// a server. A request takes all its sectors at once, so two requests never wait on each
/// other in a cycle; waiters are woken first come, first served.
actor NBDSectorLocks {
    private struct Key: Hashable {
        var export: String
        var sector: UInt64
    }

    private var held: Set<Key> = []
    private var waiters: [(keys: [Key], resume: CheckedContinuation<Void, Never>)] = []

    /// Waits until none of `sectors` of `export` is held, then holds them all.
    func lock(_ export: String, sectors: [UInt64]) async {
        let keys = sectors.map { Key(export: export, sector: $0) }
        let queued = waiters.contains { waiter in waiter.keys.contains(where: keys.contains) }
        if !queued && keys.allSatisfy({ !held.contains($0) }) {
            held.formUnion(keys)
            return
        }
        await withCheckedContinuation { waiters.append((keys, $0)) }
    }

    /// Releases `sectors` of `export` (held by ``lock(_:sectors:)``) and wakes the waiters
    /// that can now go, in order.
    func unlock(_ export: String, sectors: [UInt64]) {
        held.subtract(sectors.map { Key(export: export, sector: $0) })
        var still: [(keys: [Key], resume: CheckedContinuation<Void, Never>)] = []
        var blocked: Set<Key> = []
        for waiter in waiters {
            if waiter.keys.allSatisfy({ !held.contains($0) && !blocked.contains($0) }) {
                held.formUnion(waiter.keys)
                waiter.resume.resume()
            } else {
                blocked.formUnion(waiter.keys)
                still.append(waiter)
            }
        }
        waiters = still
    }

    /// How many sectors are held (for tests).
    var heldCount: Int { held.count }
}
