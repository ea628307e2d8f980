import ArgumentParser
import Foundation

/// Where `create` and `load` read a table, as dmsetup does: `--table TEXT` (several lines
/// separated by newlines), else a `TABLE_FILE`, else stdin. Comments (`#` to the end of the
/// line) and blank lines are dropped, as dmsetup drops them, so the server's line numbers in
/// an error count the table's target lines.
struct TableSource: ParsableArguments {
    @Option(help: "The table itself; several lines separated by newlines.")
    var table: String?

    @Argument(help: "A file holding the table (default: stdin).")
    var tableFile: String?

    /// The table text to send (one target per line).
    func read() throws -> String {
        let raw: String
        if let table {
            if tableFile != nil { throw ValidationError("give --table or a table file, not both") }
            raw = table
        } else if let tableFile {
            guard let text = try? String(contentsOfFile: tableFile, encoding: .utf8) else {
                throw LocalFailure(code: "ENOENT", detail: "cannot read table file '\(tableFile)'")
            }
            raw = text
        } else {
            raw = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        return Self.normalise(raw)
    }

    static func normalise(_ raw: String) -> String {
        raw.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let text = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }.joined(separator: "\n")
    }
}
