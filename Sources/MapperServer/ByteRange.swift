import MapperCore

/// The byte range of a data request, validated in one place for the HTTP entry point:
/// `offset` a multiple of 512 of at least 0, `length` a multiple of 512 of at least 512 and
/// at most the data limit (E2BIG beyond it). The engine takes the range in sectors as it is
/// (``sector``, ``sectors``); whether it fits the device is the engine's own entry check
/// (`MappedDevice.submit`, EINVAL).
public struct ByteRange: Sendable, Equatable {
    public let offset: Int64
    public let length: Int64

    /// The first sector.
    public var sector: UInt64 { UInt64(offset) >> 9 }
    /// The length in sectors (at least 1).
    public var sectors: UInt64 { UInt64(length) >> 9 }

    public init(offset: String?, length: String?, maxLength: Int) throws {
        self.offset = try Self.offset(offset)
        let length = try Self.number(length, "length", minimum: 512)
        guard length <= Int64(maxLength) else {
            throw MapperError(.E2BIG, "length \(length) exceeds the limit of \(maxLength) bytes")
        }
        self.length = length
    }

    /// A write's range: `offset` from ``offset(_:)``, `bodyLength` the body's byte count, which
    /// must be a positive multiple of 512 (EINVAL otherwise; the body's bound is checked as it
    /// is read).
    public init(offset: Int64, bodyLength: Int) throws {
        guard bodyLength > 0, bodyLength % 512 == 0 else {
            throw MapperError(.EINVAL, "data length \(bodyLength) is not a positive multiple of 512")
        }
        self.offset = offset
        self.length = Int64(bodyLength)
    }

    /// A request's `offset` query parameter.
    public static func offset(_ text: String?) throws -> Int64 {
        try number(text, "offset", minimum: 0)
    }

    private static func number(_ text: String?, _ name: String, minimum: Int64) throws -> Int64 {
        guard let text else { throw MapperError(.EINVAL, "query parameter '\(name)' is required") }
        guard let value = Int64(text), value >= minimum, value % 512 == 0 else {
            throw MapperError(.EINVAL, "\(name) must be a multiple of 512 of at least \(minimum), not '\(text)'")
        }
        return value
    }
}
