/// Device ownership on a store shared by several hosts (the PostgreSQL store): leases,
/// epochs and claims. The SQLite store has none (one host owns everything).
///
/// Contract: ``start()`` runs once before recovery; afterwards the store writes for a
/// device only while the database row still names this host at the epoch the host knows, in
/// the same transaction that takes the row's share lock (a claim takes it for update), and
/// reports a device it finds claimed through the lost-device handler exactly once.
public protocol HostOwnership: AnyObject, Sendable {
    /// This host's id (`--host-id`).
    var hostID: String { get }
    /// The lease timings.
    var timing: HostLease.Timing { get }
    /// Takes this host's lease (creating its row), adopts the devices it owns or nobody owns
    /// (each epoch + 1: an older process of this host is fenced), and returns which devices
    /// this host serves, and who owns the others.
    func start() async throws -> OwnershipStart
    /// Renews the lease, then checks the devices this host serves against the database:
    /// those now owned by another host, or at another epoch, are marked lost (and reported
    /// to the handler); returns them.
    func renew() async throws -> [String]
    /// Gives up a renewal that hangs (closes its connection).
    func abandonRenewal()
    /// Every host, its lease and its devices.
    func hosts() async throws -> [HostRecord]
    /// Gives up reads that hang (closes the reading connection).
    func abandonReads()
    /// Claims `device` for this host: EBUSY while its owner's lease has not run out plus the
    /// grace, ENOENT for an unknown device. Returns the new epoch. The device's rows are this
    /// host's to write from the claim's commit on.
    func claim(device: String) async throws -> Int64
    /// While a claimed device is rebuilt, state changes of these objects (the device, and the
    /// backends and paths brought up for it) are not written: the store has them already.
    /// An empty set ends it.
    func setReplaying(_ names: Set<String>)
    /// Called (once per device) when the store finds that another host owns a device this
    /// host serves; the server drops it.
    func onDeviceLost(_ handler: @escaping @Sendable (String) -> Void)
}

/// What ``HostOwnership/start()`` found.
public struct OwnershipStart: Sendable, Equatable {
    /// The devices this host serves, with their epochs.
    public let owned: [String: Int64]
    /// The devices other hosts own: name → owner.
    public let foreign: [String: String]

    public init(owned: [String: Int64], foreign: [String: String]) {
        self.owned = owned
        self.foreign = foreign
    }
}
