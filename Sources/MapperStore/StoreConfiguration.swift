/// How the store opens its database.
public struct StoreConfiguration: Sendable {
    /// SQLite's `synchronous` setting for the WAL database.
    public enum Durability: String, Sendable, CaseIterable {
        /// Every commit is fsynced (`synchronous=FULL`): a bio reported queued survives power loss.
        case full
        /// Commits survive a process crash, not necessarily power loss (`synchronous=NORMAL`).
        case normal
    }

    public var durability: Durability
    /// How long ended bios stay queryable.
    public var retentionSeconds: Double
    /// How many ended bios stay queryable at most.
    public var retentionCount: Int
    /// How many events the event table keeps.
    public var eventRetention: Int

    public init(
        durability: Durability = .full, retentionSeconds: Double = 3600, retentionCount: Int = 10_000,
        eventRetention: Int = 100_000
    ) {
        self.durability = durability
        self.retentionSeconds = retentionSeconds
        self.retentionCount = retentionCount
        self.eventRetention = eventRetention
    }
}
