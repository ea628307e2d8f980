/// A registered kind of target: its name, version and constructor (dm's `target_type`).
public struct TargetType: Sendable {
    public let name: String
    /// (major, minor, patch), as `dmsetup targets` prints.
    public let version: (Int, Int, Int)
    /// The constructor (dm's `ctr`): parses `context.args` and opens referenced devices with
    /// ``TargetContext/getDevice(_:offset:length:)``. Throws EINVAL with a message on bad
    /// arguments.
    public let construct: @Sendable (TargetContext) throws -> any Target

    public init(
        name: String, version: (Int, Int, Int),
        construct: @escaping @Sendable (TargetContext) throws -> any Target
    ) {
        self.name = name
        self.version = version
        self.construct = construct
    }

    /// `"1.0.2"`.
    public var versionString: String { "\(version.0).\(version.1).\(version.2)" }
}
