/// `thin-pool` (dm-thin's pool target): a pool of data blocks shared by thin devices, with
/// its metadata on a device of its own (``ThinPool``). The pool device itself maps straight
/// onto its data device, as dm's does. Messages create, snapshot and delete thin devices.
/// A reload with a longer table grows the pool and lets writes held for space go on.
public final class ThinPoolTarget: Target, @unchecked Sendable {
    public static let type = TargetType(name: "thin-pool", version: (1, 23, 0)) { context in
        try ThinPoolTarget(context: context)
    }

    let context: TargetContext
    let arguments: ThinPoolArguments
    let pool: ThinPool

    init(context: TargetContext) throws {
        self.context = context
        arguments = try ThinPoolArguments(context: context)
        pool = try context.engine.thinPools.acquire(arguments, owner: context.device, engine: context.engine)
        let current = pool.dataBlocks
        if current > arguments.dataBlocks {
            context.engine.thinPools.release(pool)
            throw MapperError(
                .EINVAL,
                "pool target (\(arguments.dataBlocks) blocks) too small: expected \(current) (a pool cannot shrink)")
        }
        pool.bindIfUnbound(arguments, context: context)
    }

    public func map(_ clone: Clone) -> MapResult {
        .remapped(arguments.dataDevice, clone.request(to: clone.op == .flush ? 0 : clone.targetOffset))
    }

    public var hasEndIO: Bool { false }

    public func preresume() async {
        pool.bind(arguments, context: context)
        await pool.open()
    }

    public func status() -> String { pool.status() }

    public func table() -> String {
        "\(arguments.metadataDevice.name) \(arguments.dataDevice.name) \(arguments.dataBlockSectors) \(arguments.lowWaterMark) \(arguments.featureText)"
    }

    public func message(_ argv: [String]) throws -> String { try pool.message(argv) }

    public func destroy() { context.engine.thinPools.release(pool) }
}
