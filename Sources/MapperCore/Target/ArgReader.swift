/// Reads a target's constructor arguments in order (dm's `dm_arg_set` helpers); every failure
/// is EINVAL with a message naming the argument.
public struct ArgReader {
    private let args: [String]
    private var index = 0

    public init(_ args: [String]) { self.args = args }

    /// Arguments not yet read.
    public var remaining: Int { args.count - index }

    /// The next argument as a string.
    public mutating func next(_ what: String) throws -> String {
        guard index < args.count else { throw MapperError(.EINVAL, "missing \(what)") }
        defer { index += 1 }
        return args[index]
    }

    /// The next argument as an unsigned number within `range`.
    public mutating func number(_ what: String, in range: ClosedRange<UInt64> = 0...UInt64.max) throws -> UInt64 {
        let text = try next(what)
        guard let value = UInt64(text), range.contains(value) else {
            if range == 0...UInt64.max { throw MapperError(.EINVAL, "invalid \(what) '\(text)'") }
            throw MapperError(.EINVAL, "invalid \(what) '\(text)' (expected \(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    /// The next argument as an `Int` within `range`.
    public mutating func int(_ what: String, in range: ClosedRange<Int>) throws -> Int {
        Int(try number(what, in: UInt64(range.lowerBound)...UInt64(range.upperBound)))
    }

    /// Throws unless every argument was read.
    public func finish() throws {
        guard index == args.count else {
            throw MapperError(.EINVAL, "too many arguments (unexpected '\(args[index])')")
        }
    }
}
