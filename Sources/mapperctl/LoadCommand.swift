import ArgumentParser
import MapperAPI

/// `load NAME [--table TEXT | TABLE_FILE]` (alias `reload`): stages a table in the inactive
/// slot; `resume` swaps it in.
struct LoadCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "load", abstract: "Load a table into the inactive slot.", aliases: ["reload"])

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @OptionGroup var source: TableSource

    var label: String { "load \(name)" }

    func execute(_ api: API) async throws {
        let device = try await api.client.loadTable(
            path: .init(name: name), body: .json(.init(text: try source.read()))
        ).ok.body.json
        if global.json { try printJSON(device) }
    }
}
