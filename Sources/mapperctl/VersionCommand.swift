import ArgumentParser
import MapperAPI
import MapperVersion

/// `version`: dmsetup's two lines, with mapperctl's version as the library's and the server's
/// as the driver's.
struct VersionCommand: Verb {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print versions.")

    @OptionGroup var global: GlobalOptions

    var label: String { "version" }

    func execute(_ api: API) async throws {
        let health = try await api.health()
        if global.json {
            try printJSON(["client": MapperdVersion.string, "server": health.version])
            return
        }
        print("Library version:   \(MapperdVersion.string)")
        print("Driver version:    \(health.version)")
    }
}
