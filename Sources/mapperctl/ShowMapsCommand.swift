import ArgumentParser
import MapperAPI

/// `show maps`: one row per device with a multipath target. Wildcards (multipathd's): `%n`
/// name, `%w` uuid, `%t` dm-st (active/suspend), `%N` paths, `%S` size, `%Q` queueing (`on`,
/// `off`, or `N chk` under no_path_retry N), `%0` path_faults, `%r` write_prot (rw/ro).
struct ShowMapsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "maps", abstract: "multipathd's show maps.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Columns as multipathd wildcards.") var format = "%n %w %t %N %S %Q %0 %r"

    var label: String { "show maps" }

    struct Row: Encodable {
        var device: Components.Schemas.Device
        var multipath: [Components.Schemas.MultipathStatus]
    }

    static let wildcards: [Wildcard<Row>] = [
        .init(code: "n", header: "name") { $0.device.name },
        .init(code: "w", header: "uuid") { $0.device.uuid ?? "-" },
        .init(code: "t", header: "dm-st") { $0.device.state == .suspended ? "suspend" : "active" },
        .init(code: "N", header: "paths") { row in
            String(row.multipath.reduce(0) { $0 + $1.pathGroups.reduce(0) { $0 + $1.paths.count } })
        },
        .init(code: "S", header: "size") { Output.size(sectors: $0.device.sizeSectors) },
        .init(code: "Q", header: "queueing") { row in
            switch row.device.noPathRetry {
            case .case1(.fail): return "off"
            case .case2(let intervals): return "\(intervals) chk"
            case .case1(.queue): return row.multipath.contains { $0.queueIfNoPath } ? "on" : "off"
            }
        },
        .init(code: "0", header: "path_faults") { row in
            String(row.multipath.reduce(0) { $0 + $1.pathGroups.reduce(0) { $0 + $1.paths.reduce(0) { $0 + $1.failCount } } })
        },
        .init(code: "r", header: "write_prot") { $0.device.readOnly ? "ro" : "rw" },
    ]

    func validate() throws { _ = try Wildcard.columns(format, from: Self.wildcards) }

    func execute(_ api: API) async throws {
        var rows: [Row] = []
        for device in try await api.client.listDevices().ok.body.json.devices {
            let status = try await api.client.getStatus(path: .init(name: device.name), query: .init(which: .live))
                .ok.body.json
            let multipath = status.targets.compactMap(\.multipath)
            if !multipath.isEmpty { rows.append(Row(device: device, multipath: multipath)) }
        }
        if global.json {
            try printJSON(rows)
            return
        }
        print(Wildcard.render(try Wildcard.columns(format, from: Self.wildcards), rows))
    }
}
