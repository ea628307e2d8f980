import ArgumentParser
import MapperAPI

/// `table [--inactive] [NAME]`: the table as dmsetup prints it, one target per line; without
/// NAME every device's, each line prefixed with `NAME: `. A device without that table prints
/// nothing.
struct TableCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "table", abstract: "Print tables.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "The inactive (staged) table instead of the live one.") var inactive = false
    @Argument(help: "The device's name (default: every device).") var name: String?

    var label: String { ["table", name].compactMap { $0 }.joined(separator: " ") }

    func execute(_ api: API) async throws {
        let devices = try await api.devices(named: name)
        var tables: [(String, Components.Schemas.Table)] = []
        for device in devices where inactive ? device.tables.inactive : device.tables.live {
            let table = try await api.client.getTable(
                path: .init(name: device.name), query: .init(which: inactive ? .inactive : .live)
            ).ok.body.json
            tables.append((device.name, table))
        }
        if global.json {
            try printJSON(Dictionary(uniqueKeysWithValues: tables))
            return
        }
        if name == nil && devices.isEmpty { print("No devices found") }
        for (device, table) in tables {
            for target in table.targets ?? [] {
                let line = DMFormat.targetLine(
                    start: target.start, length: target.length, type: target._type.rawValue, args: target.args ?? "")
                print(name == nil ? "\(device): \(line)" : line)
            }
        }
    }
}
