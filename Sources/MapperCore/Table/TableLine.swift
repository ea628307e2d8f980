/// One line of a table in dm syntax: `<start> <length> <type> <args...>`.
public struct TableLine: Sendable, Equatable {
    public var start: UInt64
    public var length: UInt64
    public var type: String
    public var args: [String]
    /// 1-based line number in the text it came from (for error messages); 0 when built in code.
    public var lineNumber: Int

    public init(start: UInt64, length: UInt64, type: String, args: [String], lineNumber: Int = 0) {
        self.start = start
        self.length = length
        self.type = type
        self.args = args
        self.lineNumber = lineNumber
    }

    /// Builds a line from its fields, splitting `args` on white space.
    public init(start: UInt64, length: UInt64, type: String, argsText: String, lineNumber: Int = 0) {
        self.init(
            start: start, length: length, type: type,
            args: argsText.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init),
            lineNumber: lineNumber)
    }

    /// The arguments joined by single spaces.
    public var argsText: String { args.joined(separator: " ") }

    /// The line in dm syntax, without a newline.
    public var text: String {
        args.isEmpty ? "\(start) \(length) \(type)" : "\(start) \(length) \(type) \(argsText)"
    }

    /// `line N` for error messages.
    var label: String { lineNumber > 0 ? "line \(lineNumber)" : "target at sector \(start)" }
}
