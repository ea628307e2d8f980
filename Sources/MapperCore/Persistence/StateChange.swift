/// A change of engine state that a ``StateStore`` persists.
public enum StateChange: Sendable, Equatable {
    case backendAdded(name: String, source: BackendSource, sizeSectors: UInt64)
    case backendRemoved(name: String)
    /// `uri`: the path's own route to a remote backend, when not the backend's; `checker`:
    /// its checker, if any.
    case pathAdded(name: String, backend: String, uri: String?, checker: CheckerConfig?)
    case pathChanged(PathInfo)
    case pathRemoved(name: String)
    case deviceCreated(name: String, uuid: String?, readOnly: Bool)
    /// Flags or `eventNr` changed.
    case deviceChanged(DeviceInfo)
    case deviceRenamed(from: String, to: String)
    case deviceRemoved(name: String)
    /// A table slot got a new table (`text`) or was emptied (`nil`).
    case tableChanged(device: String, slot: TableSlot, text: String?)
    /// The run-time state of the live table's targets, by target index (targets without state
    /// are absent).
    case targetStates(device: String, states: [Int: [String: String]])
    /// A move job was made or changed.
    case jobChanged(MoveJob)

    /// The device whose state this changes (a renamed device by its old name), if any.
    public var device: String? {
        switch self {
        case .deviceCreated(let name, _, _), .deviceRemoved(let name): name
        case .deviceChanged(let info): info.name
        case .deviceRenamed(let from, _): from
        case .tableChanged(let device, _, _), .targetStates(let device, _): device
        case .backendAdded, .backendRemoved, .pathAdded, .pathChanged, .pathRemoved, .jobChanged: nil
        }
    }
}

/// The two table slots of a device.
public enum TableSlot: String, Sendable, CaseIterable {
    case live, inactive
}
