/// A snapshot of a mapped device, with the fields of the API's Device resource.
public struct DeviceInfo: Sendable, Equatable {
    public var name: String
    public var uuid: String?
    /// `active` or `suspended`.
    public var suspended: Bool
    /// A suspend is in progress.
    public var suspending: Bool
    public var readOnly: Bool
    public var sizeSectors: UInt64
    public var eventNr: UInt32
    public var openCount: Int
    public var targetCount: Int
    public var hasLiveTable: Bool
    public var hasInactiveTable: Bool
    public var io: IOCounts
    /// multipathd's `no_path_retry` for the device's multipath targets.
    public var noPathRetry: NoPathRetry = .queue

    /// The device's I/O counters.
    public struct IOCounts: Sendable, Equatable {
        /// Original bios inside targets, not queued (pending − queued).
        public var inFlight: Int
        /// Original bios with a clone held in a target queue.
        public var queued: Int
        public var pushback: Int
        public var deferred: Int
        /// Bytes of the queued, pushed-back and deferred bios.
        public var heldBytes: Int
        /// New bios refused with EAGAIN because of the queue limits.
        public var refused: Int

        public init(inFlight: Int, queued: Int, pushback: Int, deferred: Int, heldBytes: Int = 0, refused: Int = 0) {
            self.inFlight = inFlight
            self.queued = queued
            self.pushback = pushback
            self.deferred = deferred
            self.heldBytes = heldBytes
            self.refused = refused
        }
    }

    /// `"active"` or `"suspended"`.
    public var state: String { suspended ? "suspended" : "active" }
}
