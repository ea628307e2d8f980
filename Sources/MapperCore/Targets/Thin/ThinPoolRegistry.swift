import Synchronization

/// The engine's thin pools, one per metadata device (dm's pool table): a pool outlives the
/// tables that name it, so that a reloaded `thin-pool` line takes over the pool of the line it
/// replaces, with its open metadata and the I/O it holds.
public final class ThinPoolRegistry: Sendable {
    private let pools = Mutex<[ObjectIdentifier: (pool: ThinPool, users: Int, owner: ObjectIdentifier?)]>([:])

    public init() {}

    /// The pool on `arguments`' metadata device, made if there is none; one more user.
    /// `owner` is the pool device whose line asks: a metadata device is one pool's, and one
    /// pool device's (EBUSY for another, as dm refuses a second pool on it).
    func acquire(_ arguments: ThinPoolArguments, owner: MappedDevice?, engine: EngineServices) throws -> ThinPool {
        let key = ObjectIdentifier(arguments.metadataDevice)
        let asker = owner.map(ObjectIdentifier.init)
        return try pools.withLock { pools in
            if let entry = pools[key] {
                if let existing = entry.owner, let asker, existing != asker {
                    throw MapperError(
                        .EBUSY,
                        "metadata device '\(arguments.metadataDevice.name)' is in use by another thin-pool device")
                }
                guard entry.pool.dataBlockSectors == arguments.dataBlockSectors else {
                    throw MapperError(
                        .EINVAL,
                        "the pool on '\(arguments.metadataDevice.name)' has \(entry.pool.dataBlockSectors)-sector blocks"
                    )
                }
                pools[key] = (entry.pool, entry.users + 1, entry.owner ?? asker)
                return entry.pool
            }
            let pool = ThinPool(arguments: arguments, engine: engine)
            pools[key] = (pool, 1, asker)
            return pool
        }
    }

    /// One more user of `pool` (a thin line: dm's thin devices hold their pool, so that the
    /// pool outlives a pool line replaced by another kind of table while they use it).
    func retain(_ pool: ThinPool) {
        let key = ObjectIdentifier(pool.metadataDevice)
        pools.withLock { pools in
            if let entry = pools[key], entry.pool === pool {
                pools[key] = (pool, entry.users + 1, entry.owner)
            } else if pools[key] == nil {
                pools[key] = (pool, 1, nil)
            }
        }
    }

    /// One user less; the last one closes the pool.
    func release(_ pool: ThinPool) {
        let key = ObjectIdentifier(pool.metadataDevice)
        let last = pools.withLock { pools -> Bool in
            guard let entry = pools[key], entry.pool === pool else { return false }
            if entry.users > 1 {
                pools[key] = (pool, entry.users - 1, entry.owner)
                return false
            }
            pools[key] = nil
            return true
        }
        if last { pool.close() }
    }
}
