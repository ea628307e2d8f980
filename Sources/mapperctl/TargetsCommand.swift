import ArgumentParser
import MapperAPI

/// `targets`: each target type and its version, as `dmsetup targets` prints them.
struct TargetsCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "targets", abstract: "List target types.")

    @OptionGroup var global: GlobalOptions

    var label: String { "targets" }

    func execute(_ api: API) async throws {
        let targets = try await api.client.listTargets().ok.body.json
        if global.json {
            try printJSON(targets)
            return
        }
        for target in targets.targets {
            let name = target.name.count >= 16 ? target.name : target.name + String(repeating: " ", count: 16 - target.name.count)
            print("\(name) v\(target.version)")
        }
    }
}
