import ArgumentParser
import MapperAPI

/// `show paths`: one row per path. Wildcards (multipathd's, plus `%b`): `%d` dev (the path),
/// `%b` backend, `%m` multipath (devices using it), `%t` dm_st (active/failed), `%T` chk_st
/// (ready/faulty, `undef` before a first check or without a checker), `%o` dev_st
/// (running/offline: whether its transport is connected), `%0` failures, `%S` size.
struct ShowPathsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "paths", abstract: "multipathd's show paths.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Columns as multipathd wildcards.") var format = "%d %b %m %t %T %o %0"

    var label: String { "show paths" }

    typealias Row = (path: Components.Schemas.Path, sizeSectors: Int64?)

    static let wildcards: [Wildcard<Row>] = [
        .init(code: "d", header: "dev") { $0.path.name },
        .init(code: "b", header: "backend") { $0.path.backend },
        .init(code: "m", header: "multipath") { $0.path.usedBy.isEmpty ? "-" : $0.path.usedBy.joined(separator: ",") },
        .init(code: "t", header: "dm_st") { $0.path.state.rawValue },
        .init(code: "T", header: "chk_st") { row in
            guard row.path.checker != nil, let check = row.path.lastCheck else { return "undef" }
            return check.result == .passed ? "ready" : "faulty"
        },
        .init(code: "o", header: "dev_st") { $0.path.transport.connected ? "running" : "offline" },
        .init(code: "0", header: "failures") { String($0.path.failCount) },
        .init(code: "S", header: "size") { $0.sizeSectors.map { Output.size(sectors: $0) } ?? "-" },
    ]

    func validate() throws { _ = try Wildcard.columns(format, from: Self.wildcards) }

    func execute(_ api: API) async throws {
        let paths = try await api.client.listPaths().ok.body.json.paths
        if global.json {
            try printJSON(Components.Schemas.PathList(paths: paths))
            return
        }
        let backends = try await api.client.listBackends().ok.body.json.backends
        let sizes = Dictionary(uniqueKeysWithValues: backends.map { ($0.name, $0.sizeSectors) })
        let columns = try Wildcard.columns(format, from: Self.wildcards)
        print(Wildcard.render(columns, paths.map { ($0, sizes[$0.backend]) }))
    }
}
