import Foundation

/// One entry of the engine's event log (`GET /v1/events`).
public struct EngineEvent: Sendable, Equatable {
    /// Position in the log, starting at 1, never reused.
    public let seq: UInt64
    public let at: Date
    /// `path.failed`, `device.created`, `suspend.interrupted`, ... (see the API).
    public let kind: String
    public let device: String?
    public let path: String?
    public let detail: String

    public init(seq: UInt64, at: Date, kind: String, device: String?, path: String?, detail: String) {
        self.seq = seq
        self.at = at
        self.kind = kind
        self.device = device
        self.path = path
        self.detail = detail
    }
}
