import Synchronization

/// Named internal failure points that tests (and the server, with fault injection enabled)
/// can arm to fail a given number of times with an errno (SEMANTICS §7).
///
/// Known points: ``suspendAfterPresuspend`` (the seed's `bdget_disk` failure) and
/// ``resumeSwap`` (a failed table swap).
public final class FailurePoints: Sendable {
    /// After the targets' presuspend hooks, before I/O is blocked.
    public static let suspendAfterPresuspend = "suspend.after-presuspend"
    /// During resume, just before the inactive table is swapped in.
    public static let resumeSwap = "resume.swap"
    /// Every point the engine checks.
    public static let known: [String] = [suspendAfterPresuspend, resumeSwap]

    private struct Armed {
        var errno: Errno
        var remaining: Int
    }

    private let armed = Mutex<[String: Armed]>([:])

    public init() {}

    /// Arms `point` to fail the next `count` times with `errno`. EINVAL for an unknown point or
    /// a count below 1.
    public func arm(_ point: String, errno: Errno, count: Int = 1) throws {
        guard Self.known.contains(point) else {
            throw MapperError(
                .EINVAL, "unknown failure point '\(point)' (known: \(Self.known.joined(separator: ", ")))")
        }
        guard count >= 1 else { throw MapperError(.EINVAL, "count must be at least 1") }
        armed.withLock { $0[point] = Armed(errno: errno, remaining: count) }
    }

    /// Consumes one armed failure of `point`, if any, and returns its errno.
    func fire(_ point: String) -> Errno? {
        armed.withLock { armed in
            guard var entry = armed[point] else { return nil }
            entry.remaining -= 1
            armed[point] = entry.remaining > 0 ? entry : nil
            return entry.errno
        }
    }
}
