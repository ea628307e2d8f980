/// A constructed table line: where it sits and the target object behind it.
public struct TargetInstance: Sendable {
    public let start: UInt64
    public let length: UInt64
    public let type: String
    public let target: any Target
    /// Devices opened by the constructor (closed when the table is dropped).
    let opened: [any BlockNode]
    /// The constructor's context, detached from the device when the table is dropped.
    let context: TargetContext?

    /// One past the last sector.
    public var end: UInt64 { start + length }

    /// The normalised line, as the `table` view prints it.
    public var line: TableLine {
        TableLine(start: start, length: length, type: type, argsText: target.table())
    }
}
