/// `linear <dev> <offset>`: maps the target's sectors onto `dev` from `offset` (dm-linear).
public final class LinearTarget: Target {
    public static let type = TargetType(name: "linear", version: (1, 0, 2)) { context in
        var reader = ArgReader(context.args)
        let name = try reader.next("device")
        let offset = try reader.number("offset")
        try reader.finish()
        let device = try context.getDevice(name, offset: offset, length: context.length)
        return LinearTarget(device: device, offset: offset, start: context.start)
    }

    let device: any BlockNode
    let offset: UInt64
    let start: UInt64

    init(device: any BlockNode, offset: UInt64, start: UInt64) {
        self.device = device
        self.offset = offset
        self.start = start
    }

    /// Remaps the clone onto the underlying device at `offset` and submits it there itself
    /// (``MapResult/submitted``: see there why not `.remapped`).
    public func map(_ clone: Clone) -> MapResult {
        device.submit(remapped: clone, to: clone.op == .flush ? 0 : offset + (clone.sector - start))
        return .submitted
    }

    /// dm-linear has no `end_io`.
    public var hasEndIO: Bool { false }

    public func table() -> String { "\(device.name) \(offset)" }

    /// What the underlying device reports, when it can (a file backend, a path, a device).
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]? {
        (device as? any AllocationReporting)?.allocation(
            sector: offset + (sector - start), sectors: sectors, limit: limit)
    }
}
