import ArgumentParser
import MapperAPI

/// `info [-c|--columns] [NAME]`: dmsetup's long form (each device followed by an empty line)
/// or its columns; without NAME every device.
struct InfoCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Print devices' state.")

    @OptionGroup var global: GlobalOptions
    @Flag(name: [.customShort("c"), .customShort("C"), .long], help: "One line per device.") var columns = false
    @Flag(help: "With --columns: no header line.") var noheadings = false
    @Argument(help: "The device's name (default: every device).") var name: String?

    var label: String { ["info", name].compactMap { $0 }.joined(separator: " ") }

    func execute(_ api: API) async throws {
        let devices = try await api.devices(named: name)
        if global.json {
            try printJSON(name == nil ? AnyEncodable(Components.Schemas.DeviceList(devices: devices)) : AnyEncodable(devices[0]))
            return
        }
        if devices.isEmpty {
            print("No devices found")
            return
        }
        if columns {
            if !noheadings { print(DMFormat.columnsHeader) }
            for device in devices { print(DMFormat.columns(device)) }
        } else {
            for device in devices { print(DMFormat.info(device)) }
        }
    }
}
