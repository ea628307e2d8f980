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
    /// How its I/O travels (file, or an NBD connection of its own).
    public var transport: TransportInfo
    /// The checker's configuration (`nil`: not checked) and its last result.
    public var checker: CheckerConfig?
    public var lastCheck: CheckResult?

    /// `"active"` or `"failed"`.
    public var state: String { active ? "active" : "failed" }
}

/// A snapshot of a backend, with the fields of the API's Backend resource.
public struct BackendInfo: Sendable, Equatable {
    public var name: String
    /// Where the data lives: a file (as given at creation) or a remote export.
    public var source: BackendSource
    public var sizeSectors: UInt64
    /// Paths and devices that use the backend.
    public var usedBy: [String]
    /// Whether a remote backend's own connection is up (`nil` for a file).
    public var connected: Bool?

    public var sizeBytes: UInt64 { sizeSectors << 9 }
}
