import Foundation

/// One entry of the engine's event log (`GET /v1/events`).
public struct EngineEvent: Sendable, Equatable {
    /// Position in the log, starting at 1, never reused.
    public let seq: UInt64
    public let at: Date
    /// What happened, named as the API names it.
    public let kind: Kind
    public let device: String?
    public let path: String?
    public let detail: String

    public init(seq: UInt64, at: Date, kind: Kind, device: String?, path: String?, detail: String) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.device = device
        self.path = path
        self.detail = detail
    }

    /// Every kind of event, by the name the API and the store use (`path.failed`, ...).
    public enum Kind: String, Sendable, CaseIterable {
        case backendCreated = "backend.created"
        case backendRemoved = "backend.removed"
        case backendResized = "backend.resized"
        case pathCreated = "path.created"
        case pathRemoved = "path.removed"
        case pathFault = "path.fault"
        case pathChecker = "path.checker"
        case pathFailed = "path.failed"
        case pathReinstated = "path.reinstated"
        case checkerFailed = "checker.failed"
        case checkerReinstated = "checker.reinstated"
        case deviceCreated = "device.created"
        case deviceRemoved = "device.removed"
        case deviceRenamed = "device.renamed"
        case devicePolicy = "device.policy"
        case deviceSuspended = "device.suspended"
        case deviceResumed = "device.resumed"
        case suspendWaiting = "suspend.waiting"
        case suspendFailed = "suspend.failed"
        case suspendInterrupted = "suspend.interrupted"
        case tableLoaded = "table.loaded"
        case tableCleared = "table.cleared"
        case tableSwapped = "table.swapped"
        case groupSwitched = "group.switched"
        case groupDisabled = "group.disabled"
        case groupEnabled = "group.enabled"
        case multipathQueueingDisabled = "multipath.queueing-disabled"
        case multipathQueueingRestored = "multipath.queueing-restored"
        case mirrorInSync = "mirror.in-sync"
        case mirrorLegFailed = "mirror.leg-failed"
        case mirrorLogFailed = "mirror.log-failed"
        case thinLowWater = "thin.low-water"
        case thinOutOfSpace = "thin.out-of-space"
        case thinPoolFailed = "thin.pool-failed"
        case jobPhase = "job.phase"
    }
}
