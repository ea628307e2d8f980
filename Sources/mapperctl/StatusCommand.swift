import ArgumentParser
import MapperAPI

/// `status [--inactive] [NAME]`: each target's status line as dmsetup prints it; without NAME
/// every device's, prefixed with `NAME: `.
struct StatusCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Print targets' status.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "The inactive table's targets.") var inactive = false
    @Argument(help: "The device's name (default: every device).") var name: String?

    var label: String { ["status", name].compactMap { $0 }.joined(separator: " ") }

    func execute(_ api: API) async throws {
        var names = [String]()
        if let name { names = [name] } else { names = try await api.devices(named: nil).map(\.name) }
        var statuses: [(String, Components.Schemas.Status)] = []
        for device in names {
            let status = try await api.client.getStatus(
                path: .init(name: device), query: .init(which: inactive ? .inactive : .live)
            ).ok.body.json
            statuses.append((device, status))
        }
        if global.json {
            try printJSON(Dictionary(uniqueKeysWithValues: statuses))
            return
        }
        if name == nil && names.isEmpty { print("No devices found") }
        for (device, status) in statuses {
            for target in status.targets {
                let line = DMFormat.targetLine(
                    start: target.start, length: target.length, type: target._type, args: target.status)
                print(name == nil ? "\(device): \(line)" : line)
            }
        }
    }
}
