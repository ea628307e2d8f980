import ArgumentParser
import MapperAPI

/// `ls`: one device name per line (dmsetup adds `(major, minor)`, which mapperd devices do
/// not have), or `No devices found`. `--target TYPE` keeps devices with a target of that type.
struct LsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List devices.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only devices whose live table has a target of this type.") var target: String?

    var label: String { "ls" }

    func execute(_ api: API) async throws {
        var devices = try await api.client.listDevices().ok.body.json.devices
        if let target {
            var kept: [Components.Schemas.Device] = []
            for device in devices where device.tables.live {
                let table = try await api.client.getTable(path: .init(name: device.name), query: .init(which: .live))
                    .ok.body.json
                if (table.targets ?? []).contains(where: { $0._type.rawValue == target }) { kept.append(device) }
            }
            devices = kept
        }
        if global.json {
            try printJSON(Components.Schemas.DeviceList(devices: devices))
        } else if devices.isEmpty {
            print("No devices found")
        } else {
            for device in devices { print(device.name) }
        }
    }
}
