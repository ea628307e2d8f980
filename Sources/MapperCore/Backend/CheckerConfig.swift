/// How often a path is checked and how long a check may take (multipathd's
/// `polling_interval` and `checker_timeout`), in milliseconds.
public struct CheckerConfig: Sendable, Equatable {
    public var intervalMs: Int
    public var timeoutMs: Int

    /// The server's defaults: 5 s between checks, 5 s per check.
    public static let defaults = CheckerConfig(uncheckedIntervalMs: 5000, timeoutMs: 5000)

    /// EINVAL unless `intervalMs` is in 10...3,600,000 and `timeoutMs` in 10...600,000.
    public init(intervalMs: Int, timeoutMs: Int) throws {
        guard (10...3_600_000).contains(intervalMs) else {
            throw MapperError(.EINVAL, "checker intervalMs must be between 10 and 3600000")
        }
        guard (10...600_000).contains(timeoutMs) else {
            throw MapperError(.EINVAL, "checker timeoutMs must be between 10 and 600000")
        }
        self.init(uncheckedIntervalMs: intervalMs, timeoutMs: timeoutMs)
    }

    private init(uncheckedIntervalMs: Int, timeoutMs: Int) {
        self.intervalMs = uncheckedIntervalMs
        self.timeoutMs = timeoutMs
    }

    public var interval: Duration { .milliseconds(intervalMs) }
    public var timeout: Duration { .milliseconds(timeoutMs) }
}
