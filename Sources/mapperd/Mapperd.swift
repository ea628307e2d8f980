import ArgumentParser
import Logging
import MapperCore
import MapperVersion

/// The `mapperd` command line.
@main
struct Mapperd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapperd",
        abstract: "A userspace device-mapper managed over REST/JSON.",
        version: MapperdVersion.string,
        subcommands: [ServeCommand.self, MigrateCommand.self, ThinCheckCommand.self, VersionCommand.self]
    )
}
