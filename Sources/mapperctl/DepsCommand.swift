import ArgumentParser
import MapperAPI

/// `deps [NAME]`: what a device's tables use, as `dmsetup deps -o devname` prints it
/// (` 2 dependencies\t: (p1) (p2)`): the paths, backends and devices that name it among their
/// users. Without NAME every device, each line prefixed with `NAME: `.
struct DepsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "deps", abstract: "Print what devices depend on.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name (default: every device).") var name: String?

    var label: String { ["deps", name].compactMap { $0 }.joined(separator: " ") }

    func execute(_ api: API) async throws {
        let names = try await api.devices(named: name).map(\.name)
        let paths = try await api.client.listPaths().ok.body.json.paths
        let backends = try await api.client.listBackends().ok.body.json.backends
        var users: [(String, [String])] = paths.map { ($0.name, $0.usedBy) } + backends.map { ($0.name, $0.usedBy) }
        // Stacked devices: a device another device's table names (its users are in no list,
        // so read the tables).
        for device in names {
            let info = try await api.client.getDevice(path: .init(name: device)).ok.body.json
            guard info.tables.live else { continue }
            let table = try await api.client.getTable(path: .init(name: device), query: .init(which: .live)).ok.body.json
            for other in names where other != device {
                let mentions = (table.targets ?? []).contains { ($0.args ?? "").split(separator: " ").contains { $0 == other } }
                if mentions { users.append((other, [device])) }
            }
        }
        var result: [String: [String]] = [:]
        for device in names {
            result[device] = users.filter { $0.1.contains(device) }.map(\.0).sorted()
        }
        if global.json {
            try printJSON(result)
            return
        }
        if name == nil && names.isEmpty { print("No devices found") }
        for device in names {
            let deps = result[device] ?? []
            let line = " \(deps.count) dependencies\t: " + deps.map { "(\($0))" }.joined(separator: " ")
            print(name == nil ? "\(device):\(line)" : line)
        }
    }
}
