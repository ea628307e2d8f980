/// The structured status of a multipath target (the API's `multipath` object).
public struct MultipathStatus: Sendable, Equatable {
    public struct PathStatus: Sendable, Equatable {
        public let name: String
        public let active: Bool
        public let failCount: Int
    }

    public struct GroupStatus: Sendable, Equatable {
        public let number: Int
        /// `active` (current), `enabled` or `disabled` (bypassed).
        public let state: String
        public let selector: String
        public let paths: [PathStatus]
    }

    public let queueIfNoPath: Bool
    public let queueSize: Int
    /// The group the next choice starts from (dm's `pg_num` in status).
    public let currentGroup: Int
    public let groups: [GroupStatus]
}
