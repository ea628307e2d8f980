import ArgumentParser
import MapperAPI

/// multipathd's `show paths` and `show maps`: a column table; `--format` takes multipathd's
/// wildcards, separated by spaces (`mapperctl show paths --format "%d %t %T"`).
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "multipathd's views: paths and maps.",
        subcommands: [ShowPathsCommand.self, ShowMapsCommand.self])
}

/// A multipathd-style column: its wildcard, header and value.
struct Wildcard<Row: Sendable>: Sendable {
    var code: Character
    var header: String
    var value: @Sendable (Row) -> String

    /// The columns a `--format` string names, in order; an unknown wildcard or literal text
    /// is a usage error that lists the supported wildcards.
    static func columns(_ format: String, from supported: [Wildcard]) throws -> [Wildcard] {
        try format.split(separator: " ", omittingEmptySubsequences: true).map { token in
            guard token.count == 2, token.first == "%", let column = supported.first(where: { $0.code == token.last })
            else {
                let list = supported.map { "%\($0.code) \($0.header)" }.joined(separator: ", ")
                throw ValidationError("unknown wildcard '\(token)' (supported: \(list))")
            }
            return column
        }
    }

    static func render(_ columns: [Wildcard], _ rows: [Row]) -> String {
        Output.columns(columns.map(\.header), rows.map { row in columns.map { $0.value(row) } })
    }
}
