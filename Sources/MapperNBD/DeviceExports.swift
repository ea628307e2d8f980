import MapperCore

/// Every mapped device as an export of the same name, as `/dev/mapper/NAME` exists while the
/// device does. The empty name means ``defaultExport`` when one is configured; otherwise it
/// is unknown. A device without a live table is exported with size 0.
public struct DeviceExports: NBDExportCatalog {
    public let manager: DeviceManager
    public let defaultExport: String?

    public init(manager: DeviceManager, defaultExport: String? = nil) {
        self.manager = manager
        self.defaultExport = defaultExport
    }

    /// The device a client means by `name`.
    public func device(named name: String) -> MappedDevice? {
        let resolved = name.isEmpty ? defaultExport : name
        guard let resolved else { return nil }
        return try? manager.device(named: resolved)
    }

    public func export(named name: String) -> NBDExport? {
        device(named: name).map(Self.export(of:))
    }

    public func exports() -> [NBDExport] {
        manager.devices.map(Self.export(of:))
    }

    static func export(of device: MappedDevice) -> NBDExport {
        let live = device.liveTable
        let types = live.map { table in
            Array(Set(table.targets.map(\.type))).sorted().joined(separator: ",")
        }
        let size = live?.sizeSectors ?? 0
        return NBDExport(
            name: device.name,
            description: "mapperd device \(device.name) (\(types ?? "no table"), \(size) sectors)",
            sizeBytes: size << 9, readOnly: device.readOnly)
    }
}
