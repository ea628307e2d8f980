import Synchronization

/// What a target's constructor gets: its place in the table, its arguments, and access to
/// the devices it may map onto. After construction the target may keep it to reach its
/// device (``isNoflushSuspending``, ``triggerEvent(kind:path:detail:)``).
public final class TargetContext: @unchecked Sendable {
    /// First sector of the target in the mapped device.
    public let start: UInt64
    /// Length in sectors.
    public let length: UInt64
    /// The arguments after the type name.
    public let args: [String]
    /// The engine-wide services (path registry, timers).
    public let engine: EngineServices
    private let owner: Mutex<MappedDevice?>
    let resolver: (String) -> (any BlockNode)?
    var opened: [any BlockNode] = []

    init(
        start: UInt64, length: UInt64, args: [String], engine: EngineServices, device: MappedDevice?,
        resolver: @escaping (String) -> (any BlockNode)?
    ) {
        self.start = start
        self.length = length
        self.args = args
        self.engine = engine
        self.owner = Mutex(device)
        self.resolver = resolver
    }

    /// The owning device, until the table is dropped.
    var device: MappedDevice? { owner.withLock { $0 } }

    /// Called when the table is dropped: breaks the device → table → target → context cycle.
    func detach() { owner.withLock { $0 = nil } }

    /// Opens the device named `name` for `length` sectors from `offset` (dm's
    /// `dm_get_device`): ENOENT-style EINVAL when there is no such name, EINVAL when the area
    /// does not fit or the reference would make a cycle. Counted in the device's holders until
    /// the table is dropped.
    public func getDevice(_ name: String, offset: UInt64, length: UInt64) throws -> any BlockNode {
        guard let node = resolver(name) else {
            throw MapperError(.EINVAL, "no block device named '\(name)'")
        }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= node.sizeSectors else {
            throw MapperError(
                .EINVAL,
                "area \(offset)+\(length) does not fit in '\(name)' (\(node.sizeSectors) sectors)")
        }
        if let target = node as? MappedDevice, let device {
            if target === device {
                throw MapperError(.EINVAL, "device '\(name)' cannot map onto itself")
            }
            if target.references(device) {
                throw MapperError(.EINVAL, "mapping onto '\(name)' would make a cycle")
            }
        }
        opened.append(node)
        return node
    }

    /// Looks a node up without opening it and without a size check (multipath paths).
    public func lookUp(_ name: String) -> (any BlockNode)? { resolver(name) }

    /// dm's `dm_noflush_suspending`: whether the owning device is in a noflush suspend.
    public var isNoflushSuspending: Bool { device?.isNoflushSuspending ?? false }

    /// dm's `dm_table_event`: bumps the owning device's `eventNr` and wakes its waiters.
    public func triggerEvent(kind: EngineEvent.Kind, path: String? = nil, detail: String = "") {
        device?.triggerEvent(kind: kind, path: path, detail: detail)
    }

    /// Asks the owning device to persist this target's ``Target/persistentState`` (only targets
    /// of the live table are persisted).
    public func persistState() {
        device?.persistTargetStates()
    }
}
