import ArgumentParser
import MapperCore
import MapperVersion

/// `mapperd version`: prints the version and the targets this build knows.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    @Flag(help: "Also list the target types and their versions.")
    var targets = false

    func run() throws {
        var out = "mapperd \(MapperdVersion.string)\n"
        if targets {
            for type in TargetRegistry().all { out += "\(type.name) v\(type.versionString)\n" }
        }
        StandardOutput.write(out)
    }
}
