import ArgumentParser
import MapperAPI

/// `claim NAME`: takes over a device of a host whose lease ran out (a shared store).
struct ClaimCommand: Verb {
    static let configuration = CommandConfiguration(
        commandName: "claim", abstract: "Take over a device of a host whose lease ran out.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String

    var label: String { "claim \(name)" }

    func execute(_ api: API) async throws {
        let device = try await api.client.claimDevice(path: .init(name: name)).ok.body.json
        if global.json { try printJSON(device) }
    }
}
