import Foundation

/// Text and JSON output helpers.
enum Output {
    /// Writes one line to stdout at once (unbuffered: `events --follow` into a pipe shows each
    /// event as it comes).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// JSON as the API writes it, pretty-printed with sorted keys (stable for scripts and
    /// diffs); dates ISO 8601.
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A column table as multipathd prints one: a header line, then rows, every column padded
    /// to its widest cell and separated by one space (the last column not padded).
    static func columns(_ headers: [String], _ rows: [[String]]) -> String {
        let all = [headers] + rows
        let widths = headers.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// Sectors as multipathd writes sizes: `16M`, `1.5G`, `512K` (binary units).
    static func size(sectors: Int64) -> String {
        var value = Double(sectors) * 512 / 1024
        var unit = 0
        let units = ["K", "M", "G", "T", "P"]
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let text = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        return text + units[unit]
    }
}
