import Foundation
import MapperCore

/// Everything start-up recovery needs, read from the store in one transaction.
public struct StoreSnapshot: Sendable {
    public struct BackendRecord: Sendable, Equatable {
        public let name: String
        public let source: BackendSource
        public let sizeSectors: UInt64

        package init(name: String, source: BackendSource, sizeSectors: UInt64) {
            self.name = name
            self.source = source
            self.sizeSectors = sizeSectors
        }
    }

    public struct PathRecord: Sendable, Equatable {
        public let name: String
        public let backend: String
        public let active: Bool
        public let failCount: Int
        public let fault: FaultMode
        /// The path's own route to a remote backend, when not the backend's URI.
        public let uri: String?
        public let checker: CheckerConfig?

        package init(
            name: String, backend: String, active: Bool, failCount: Int, fault: FaultMode, uri: String?,
            checker: CheckerConfig?
        ) {
            self.name = name
            self.backend = backend
            self.active = active
            self.failCount = failCount
            self.fault = fault
            self.uri = uri
            self.checker = checker
        }
    }

    public struct DeviceRecord: Sendable, Equatable {
        public let name: String
        public let uuid: String?
        public let readOnly: Bool
        public let suspended: Bool
        public let eventNr: UInt32
        public let live: [String]
        public let inactive: [String]
        public let targetStates: [Int: [String: String]]
        public let noPathRetry: NoPathRetry

        package init(
            name: String, uuid: String?, readOnly: Bool, suspended: Bool, eventNr: UInt32, live: [String],
            inactive: [String], targetStates: [Int: [String: String]], noPathRetry: NoPathRetry
        ) {
            self.name = name
            self.uuid = uuid
            self.readOnly = readOnly
            self.suspended = suspended
            self.eventNr = eventNr
            self.live = live
            self.inactive = inactive
            self.targetStates = targetStates
            self.noPathRetry = noPathRetry
        }
    }

    /// A bio that had not ended, in recovery order.
    public struct BioRecord: Sendable {
        public let id: UInt64
        public let device: String
        public let op: BioOp
        public let sector: UInt64
        public let sectors: UInt64
        /// The write payload, ready for the bio.
        public let payload: IOBuffer?
        public let idempotencyKey: String?
        public let submittedAt: Date
        /// `queued`, `pushback`, `deferred` or `inflight`.
        public let state: BioState

        package init(
            id: UInt64, device: String, op: BioOp, sector: UInt64, sectors: UInt64, payload: IOBuffer?,
            idempotencyKey: String?, submittedAt: Date, state: BioState
        ) {
            self.id = id
            self.device = device
            self.op = op
            self.sector = sector
            self.sectors = sectors
            self.payload = payload
            self.idempotencyKey = idempotencyKey
            self.submittedAt = submittedAt
            self.state = state
        }
    }

    public var backends: [BackendRecord] = []
    public var paths: [PathRecord] = []
    /// In creation order (lower devices of a stack first).
    public var devices: [DeviceRecord] = []
    /// Per device: pushback first (an unfinished suspend), then target queues and bios that
    /// had left a queue without ending, then deferred; each by its queue order.
    public var bios: [BioRecord] = []
    public var recentEvents: [EngineEvent] = []

    package init() {}
}
