/// Who this host is among the hosts sharing a store: its id (`--host-id`) and its lease.
public struct HostIdentity: Sendable, Equatable {
    public let id: String
    public let timing: HostLease.Timing

    public init(id: String, lease: Duration) {
        self.id = id
        timing = HostLease.Timing(lease: lease)
    }

    /// The lease in milliseconds.
    public var leaseMs: Int64 {
        let parts = timing.lease.components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}
