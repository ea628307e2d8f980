import MapperCore

/// The byte range of a data request, validated in one place: `offset` a multiple of 512 of
/// at least 0, `length` a multiple of 512 of at least 512 and at most the data limit
/// (E2BIG beyond it). Whether the range fits the device is the engine's check (EINVAL).
public struct ByteRange: Sendable, Equatable {
    public let offset: Int64
    public let length: Int64

    public init(offset: String?, length: String?, maxLength: Int) throws {
        self.offset = try Self.offset(offset)
        let length = try Self.number(length, "length", minimum: 512)
        guard length <= Int64(maxLength) else {
            throw MapperError(.E2BIG, "length \(length) exceeds the limit of \(maxLength) bytes")
        }
        self.length = length
    }

    /// A request's `offset` query parameter.
    static func offset(_ text: String?) throws -> Int64 {
        try number(text, "offset", minimum: 0)
    }

    /// A body's length: a positive multiple of 512 (EINVAL otherwise).
    static func checkLength(_ count: Int) throws {
        guard count > 0, count % 512 == 0 else {
            throw MapperError(.EINVAL, "data length \(count) is not a positive multiple of 512")
        }
    }

    private static func number(_ text: String?, _ name: String, minimum: Int64) throws -> Int64 {
        guard let text else { throw MapperError(.EINVAL, "query parameter '\(name)' is required") }
        guard let value = Int64(text), value >= minimum, value % 512 == 0 else {
            throw MapperError(.EINVAL, "\(name) must be a multiple of 512 of at least \(minimum), not '\(text)'")
        }
        return value
    }
}
