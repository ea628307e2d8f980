/// multipathd's `no_path_retry` for one multipath device: how long I/O is queued once every
/// path is gone.
public enum NoPathRetry: Sendable, Equatable, CustomStringConvertible {
    /// The table's `queue_if_no_path` rules, unchanged.
    case queue
    /// No queueing, whatever the table says (as `fail_if_no_path`).
    case fail
    /// When the last path fails, queue for this many checker intervals (the shortest among
    /// the device's paths, else the server's default), then stop queueing: held bios end
    /// with EIO. A reinstated path turns queueing back on.
    case retries(Int)

    /// `queue`, `fail` or the number, as the API and the store write it.
    public var description: String {
        switch self {
        case .queue: return "queue"
        case .fail: return "fail"
        case .retries(let count): return String(count)
        }
    }

    /// Parses the API and store form. EINVAL for anything else or a count outside 1...100000.
    public init(_ text: String) throws {
        switch text {
        case "queue": self = .queue
        case "fail": self = .fail
        default:
            guard let count = Int(text), (1...100_000).contains(count) else {
                throw MapperError(.EINVAL, "noPathRetry must be \"queue\", \"fail\" or a count of 1 to 100000")
            }
            self = .retries(count)
        }
    }
}
