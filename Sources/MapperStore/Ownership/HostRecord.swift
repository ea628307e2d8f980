import Foundation

/// A host as the shared store knows it (`GET /v1/hosts`).
public struct HostRecord: Sendable, Equatable {
    public let id: String
    public let leaseMs: Int
    /// When the lease runs out, by the database's clock.
    public let leaseExpiresAt: Date
    public let renewedAt: Date
    public let startedAt: Date
    /// Whether the lease had run out when this was read (judged by the database).
    public let expired: Bool
    /// Whether another host may claim this host's devices now (expired plus the grace).
    public let claimable: Bool
    /// The devices this host owns, with their epochs.
    public let devices: [String: Int64]

    public init(
        id: String, leaseMs: Int, leaseExpiresAt: Date, renewedAt: Date, startedAt: Date, expired: Bool,
        claimable: Bool, devices: [String: Int64]
    ) {
        self.id = id
        self.leaseMs = leaseMs
        self.leaseExpiresAt = leaseExpiresAt
        self.renewedAt = renewedAt
        self.startedAt = startedAt
        self.expired = expired
        self.claimable = claimable
        self.devices = devices
    }
}
