import ArgumentParser
import MapperAPI

/// `resume NAME [--noflush]`: swaps in a staged table first, as dmsetup's resume does.
struct ResumeCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a device.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The device's name.") var name: String
    @Flag(help: "Suspend (if a staged table needs it) with noflush.") var noflush = false
    @Flag(help: "Accepted for dmsetup's sake.") var nolockfs = false

    var label: String { "resume \(name)" }

    func execute(_ api: API) async throws {
        let device = try await api.client.resumeDevice(
            path: .init(name: name), body: .json(.init(noflush: noflush ? true : nil, nolockfs: nolockfs ? true : nil))
        ).ok.body.json
        if global.json { try printJSON(device) }
    }
}
