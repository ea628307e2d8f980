import ArgumentParser
import Foundation
import MapperVersion

/// `mapperctl`: dmsetup's verbs (and multipathd's views) over mapperd's REST API.
///
/// Exit status: 0 on success; 1 when the server refused (its problem's `code` and `detail`
/// on stderr, after the verb and its arguments) or could not be reached; 2 for a usage error;
/// 130 when interrupted with Ctrl-C.
@main
struct Mapperctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapperctl",
        abstract: "Control mapperd: dmsetup's verbs and output, over its REST API.",
        discussion: """
            Scripts written for dmsetup need little change: the verbs, their arguments and the \
            formats of table, status, info and ls are dmsetup's. There are no major and minor \
            numbers: a device is its name (and its NBD export of the same name). \
            Shell completions: mapperctl --generate-completion-script bash|zsh|fish.
            """,
        version: MapperdVersion.string,
        subcommands: [
            CreateCommand.self, LoadCommand.self, SuspendCommand.self, ResumeCommand.self, ClearCommand.self,
            RemoveCommand.self, RenameCommand.self, MessageCommand.self, WaitCommand.self, TableCommand.self,
            StatusCommand.self, InfoCommand.self, LsCommand.self, DepsCommand.self, TargetsCommand.self,
            VersionCommand.self, ShowCommand.self, BackendCommand.self, PathCommand.self, BioCommand.self,
            EventsCommand.self, MoveCommand.self, JobCommand.self, HostsCommand.self, ClaimCommand.self,
        ]
    )

    static func main() async {
        Interrupt.install()
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(Self.movingLeadingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
        } catch {
            exit(withUsageError: error)
        }
        do {
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                var sync = command
                try sync.run()
            }
        } catch let failure as CommandFailure {
            Terminal.standardError("mapperctl: \(failure.message)\n")
            Foundation.exit(1)
        } catch {
            exit(withUsageError: error)
        }
    }

    /// `mapperctl --json info mp0` as well as `mapperctl info mp0 --json`: global options
    /// given before the verb are moved after it (where ArgumentParser reads them).
    static func movingLeadingGlobalOptions(_ arguments: [String]) -> [String] {
        var rest = arguments[...]
        var moved: [String] = []
        while let first = rest.first {
            if first == "--json" {
                moved.append(first)
                rest = rest.dropFirst()
            } else if (first == "--url" || first == "--token-file") && rest.count >= 2 {
                moved += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--url=") || first.hasPrefix("--token-file=") {
                moved.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        return Array(rest) + moved
    }

    /// Help and `--version` exit 0 as usual; every other parse or validation error is a usage
    /// error: dmsetup's exit status 2, not ArgumentParser's 64.
    private static func exit(withUsageError error: any Error) -> Never {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            Foundation.exit(0)
        }
        Terminal.standardError(message + "\n")
        Foundation.exit(code == .failure && !(error is ValidationError) ? 1 : 2)
    }
}
