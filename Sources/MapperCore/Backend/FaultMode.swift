/// How a path's simulated transport treats I/O (SEMANTICS §6).
public enum FaultMode: Sendable, Equatable {
    /// I/O reaches the backend.
    case none
    /// Every I/O fails with EIO.
    case error
    /// I/O waits until the mode changes, then proceeds under the new mode.
    case stall
    /// Each I/O waits this many milliseconds, then executes.
    case delay(milliseconds: Int)

    /// `none`, `error`, `stall` or `delay`.
    public var name: String {
        switch self {
        case .none: return "none"
        case .error: return "error"
        case .stall: return "stall"
        case .delay: return "delay"
        }
    }

    /// The delay, for `delay` (else `nil`).
    public var delayMs: Int? {
        if case .delay(let ms) = self { return ms }
        return nil
    }

    /// Builds a mode from its API form. EINVAL for an unknown name or a bad delay.
    public init(name: String, delayMs: Int?) throws {
        switch name {
        case "none": self = .none
        case "error": self = .error
        case "stall": self = .stall
        case "delay":
            guard let delayMs, delayMs >= 0, delayMs <= 600_000 else {
                throw MapperError(.EINVAL, "delay needs delayMs between 0 and 600000")
            }
            self = .delay(milliseconds: delayMs)
        default:
            throw MapperError(.EINVAL, "unknown fault mode '\(name)' (none, error, stall, delay)")
        }
    }
}
