import ArgumentParser
import MapperAPI

/// `remove NAME [--force]`: `--force` fails held I/O with EIO and disconnects NBD clients.
struct RemoveCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a device.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Flag(name: [.customShort("f"), .long], help: "Remove it even while open or holding I/O.") var force = false

    var label: String { "remove \(name)" }

    func execute(_ api: API) async throws {
        _ = try await api.client.deleteDevice(path: .init(name: name), query: .init(force: force)).noContent
        if global.json { print("{}") }
    }
}
