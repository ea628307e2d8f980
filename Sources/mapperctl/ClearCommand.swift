import ArgumentParser
import MapperAPI

/// `clear NAME`: drops the inactive table.
struct ClearCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Drop the inactive table.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String

    var label: String { "clear \(name)" }

    func execute(_ api: API) async throws {
        let device = try await api.client.clearTable(path: .init(name: name)).ok.body.json
        if global.json { try printJSON(device) }
    }
}
