import MapperCore

/// Checks of request values that the spec states and the generated decoders do not enforce
/// (ranges, lengths, patterns); each failure is EINVAL naming the field.
enum Validate {
    static func range<T: Comparable>(_ value: T?, _ bounds: ClosedRange<T>, _ field: String) throws {
        guard let value else { return }
        guard bounds.contains(value) else {
            throw MapperError(.EINVAL, "\(field) must be within \(bounds.lowerBound)...\(bounds.upperBound)")
        }
    }

    static func length(_ value: String?, _ bounds: ClosedRange<Int>, _ field: String) throws {
        guard let value else { return }
        guard bounds.contains(value.count) else {
            throw MapperError(.EINVAL, "\(field) must be \(bounds.lowerBound) to \(bounds.upperBound) characters")
        }
    }

    static func name(_ value: String?, _ field: String) throws {
        guard let value else { return }
        try DeviceManager.validateName(value, what: field)
    }

    static func timeoutMs(_ value: Int64?) throws {
        try range(value, 0...300_000, "timeoutMs")
    }
}
