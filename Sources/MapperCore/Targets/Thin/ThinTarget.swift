import Synchronization

/// `thin` (dm-thin's thin target): `<pool_dev> <dev_id>`, a thin device of the pool on the
/// mapped device `pool_dev`. Reads of unmapped blocks return zeroes; the first write to a
/// block allocates one; a write to a block shared with a snapshot copies it first
/// (``ThinPool``). Status: `<mapped_sectors> <highest_mapped_sector|->`.
///
/// Writes that find the pool out of data space are held here (journaled, in `GET /v1/bios`)
/// until the pool grows, its no-space timeout passes, or this device suspends: a noflush
/// suspend hands them back to the core (pushback), re-issued at resume; any other suspend, and
/// a table dropped, fails them with ENOSPC.
public final class ThinTarget: Target, @unchecked Sendable {
    public static let type = TargetType(name: "thin", version: (1, 23, 0)) { context in
        try ThinTarget(context: context)
    }

    let context: TargetContext
    let pool: ThinPool
    let poolName: String
    let deviceID: UInt64
    private let held = Mutex<[Clone]>([])

    init(context: TargetContext) throws {
        self.context = context
        var reader = ArgReader(context.args)
        poolName = try reader.next("pool device")
        deviceID = try reader.number("thin device id", in: 0...ThinMetadata.maxDeviceID)
        if reader.remaining > 0 {
            throw MapperError(.EINVAL, "external origins are not supported (thin takes <pool_dev> <dev_id>)")
        }
        let node = try context.getDevice(poolName, offset: 0, length: 0)
        guard let poolDevice = node as? MappedDevice,
            let poolTarget = (poolDevice.liveTable ?? poolDevice.inactiveTable)?.targets.first?.target
                as? ThinPoolTarget
        else { throw MapperError(.EINVAL, "'\(poolName)' is not a thin-pool device") }
        pool = poolTarget.pool
        guard pool.hasDevice(deviceID) else {
            throw MapperError(.EINVAL, "pool '\(poolName)' has no thin device \(deviceID) (create_thin it first)")
        }
        context.engine.thinPools.retain(pool)
        pool.attach(self)
    }

    /// dm-thin splits I/O at the pool's block boundaries.
    public var maxIOSectors: UInt64? { pool.dataBlockSectors }

    public func map(_ clone: Clone) -> MapResult { pool.map(clone, thin: self) }

    /// Only the remapped reads and writes the pool counts ask for ``endIO(_:error:)``.
    public var hasEndIO: Bool { false }

    /// A remapped read or write leaves its epoch (``ThinIOEpochs``).
    public func endIO(_ clone: Clone, error: Errno?) -> EndIOResult {
        if let mark = clone.mapContext {
            clone.mapContext = nil
            pool.epochs.leave(unsafeDowncast(mark, to: ThinIOEpochs.Mark.self))
        }
        return .done
    }

    public func preresume() async { await pool.open() }

    public func resume() { retryHeld() }

    public func presuspend() {
        if context.isNoflushSuspending { handBack() } else { failHeld(.ENOSPC) }
    }

    public func holderNoflushSuspending() { handBack() }

    public func status() -> String { pool.thinStatus(deviceID) }

    public func table() -> String { "\(poolName) \(deviceID)" }

    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]? {
        guard sectors > 0 else { return nil }
        return pool.allocation(device: deviceID, sector: sector - context.start, sectors: sectors, limit: limit)
    }

    public func destroy() {
        failHeld(.ENOSPC)
        pool.detach(self)
        context.engine.thinPools.release(pool)
    }

    // MARK: Held for space

    /// Holds a write that found the pool full.
    func hold(_ clone: Clone) {
        held.withLock { $0.append(clone) }
        clone.enteredTargetQueue()
    }

    /// Maps the held writes again (the pool grew, or this device resumed).
    func retryHeld() {
        for clone in takeHeld() {
            clone.leftTargetQueue()
            clone.reissue()
        }
    }

    /// Fails the held writes with `error`.
    func failHeld(_ error: Errno) {
        for clone in takeHeld() {
            clone.leftTargetQueue()
            clone.end(.error(error))
        }
    }

    /// Hands the held writes back to the core (a noflush suspend: pushback).
    private func handBack() {
        for clone in takeHeld() {
            clone.leftTargetQueue()
            clone.end(.requeue)
        }
    }

    private func takeHeld() -> [Clone] {
        held.withLock { held in
            defer { held = [] }
            return held
        }
    }
}
