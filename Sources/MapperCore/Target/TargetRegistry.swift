import Synchronization

/// The known target types by name (dm's target-type list, `dmsetup targets`).
public final class TargetRegistry: Sendable {
    private let types: Mutex<[String: TargetType]>

    /// A registry with the built-in targets.
    public init(types: [TargetType] = TargetRegistry.builtIn) {
        self.types = Mutex(Dictionary(types.map { ($0.name, $0) }, uniquingKeysWith: { $1 }))
    }

    /// The targets every engine has.
    public static let builtIn: [TargetType] = [
        LinearTarget.type, StripedTarget.type, ZeroTarget.type, ErrorTarget.type,
        DelayTarget.type, FlakeyTarget.type, MultipathTarget.type, MirrorTarget.type,
        ThinPoolTarget.type, ThinTarget.type,
    ]

    /// Adds or replaces a type (tests register their own).
    public func register(_ type: TargetType) {
        types.withLock { $0[type.name] = type }
    }

    public func type(named name: String) -> TargetType? {
        types.withLock { $0[name] }
    }

    /// All types, sorted by name.
    public var all: [TargetType] {
        types.withLock { Array($0.values) }.sorted { $0.name < $1.name }
    }
}
