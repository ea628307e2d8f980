import ArgumentParser
import MapperAPI

/// `rename OLD NEW`.
struct RenameCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "rename", abstract: "Rename a device.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var old: String
    @Argument(help: "Its new name.") var new: String

    var label: String { "rename \(old) \(new)" }

    func execute(_ api: API) async throws {
        let device = try await api.client.renameDevice(path: .init(name: old), body: .json(.init(newName: new)))
            .ok.body.json
        if global.json { try printJSON(device) }
    }
}
