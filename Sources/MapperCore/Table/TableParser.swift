/// Parses dm table text into ``TableLine``s and checks the layout rules that need no
/// target knowledge (SEMANTICS §2 rules 1 and 2, and the syntax of start and length).
///
/// Blank lines and lines whose first non-blank character is `#` are ignored. Every error is
/// EINVAL and names the 1-based line.
public enum TableParser {
    /// Parses `text`. Throws ``MapperError`` (EINVAL) naming the offending line.
    public static func parse(_ text: String) throws -> [TableLine] {
        var lines: [TableLine] = []
        var number = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = fields.first else { continue }
            if first.hasPrefix("#") { continue }
            guard fields.count >= 3 else {
                throw MapperError(.EINVAL, "line \(number): expected '<start> <length> <type> [args]'")
            }
            guard let start = UInt64(fields[0]) else {
                throw MapperError(.EINVAL, "line \(number): start '\(fields[0])' is not a sector number")
            }
            guard let length = UInt64(fields[1]) else {
                throw MapperError(.EINVAL, "line \(number): length '\(fields[1])' is not a sector count")
            }
            lines.append(
                TableLine(
                    start: start, length: length, type: String(fields[2]),
                    args: fields.dropFirst(3).map(String.init), lineNumber: number))
        }
        try validateLayout(lines)
        return lines
    }

    /// Checks rules 1 and 2: at least one target, lengths > 0, contiguous from sector 0.
    public static func validateLayout(_ lines: [TableLine]) throws {
        guard !lines.isEmpty else { throw MapperError(.EINVAL, "table has no targets") }
        var next: UInt64 = 0
        for line in lines {
            guard line.length > 0 else {
                throw MapperError(.EINVAL, "\(line.label): length must be greater than 0")
            }
            guard line.start == next else {
                let what = line.start < next ? "overlaps the previous target" : "leaves a gap"
                throw MapperError(
                    .EINVAL, "\(line.label): start \(line.start) \(what) (expected \(next))")
            }
            let (end, overflow) = line.start.addingReportingOverflow(line.length)
            guard !overflow else { throw MapperError(.EINVAL, "\(line.label): length overflows") }
            next = end
        }
    }
}
