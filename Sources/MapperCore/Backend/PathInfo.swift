/// A snapshot of a path, with the fields of the API's Path resource.
public struct PathInfo: Sendable, Equatable {
    public var name: String
    public var backend: String
    /// dm state: `true` = active, `false` = failed.
    public var active: Bool
    public var failCount: Int
    public var fault: FaultMode
    /// Devices whose tables use the path.
    public var usedBy: [String]

    /// `"active"` or `"failed"`.
    public var state: String { active ? "active" : "failed" }
}

/// A snapshot of a backend, with the fields of the API's Backend resource.
public struct BackendInfo: Sendable, Equatable {
    public var name: String
    /// The file as given at creation.
    public var file: String
    public var sizeSectors: UInt64
    /// Paths and devices that use the backend.
    public var usedBy: [String]

    public var sizeBytes: UInt64 { sizeSectors << 9 }
}
