#if canImport(Glibc)
    import Glibc
#endif

/// An errno value as the engine speaks it: the numeric code plus its stable symbolic name.
///
/// The engine reports every failure as an errno (as device-mapper does); the server maps the
/// name to a problem+json `code` in one place.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    public static let EIO = Errno(rawValue: Glibc.EIO)
    public static let E2BIG = Errno(rawValue: Glibc.E2BIG)
    public static let EAGAIN = Errno(rawValue: Glibc.EAGAIN)
    public static let ENOMEM = Errno(rawValue: Glibc.ENOMEM)
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    public static let EBUSY = Errno(rawValue: Glibc.EBUSY)
    public static let EEXIST = Errno(rawValue: Glibc.EEXIST)
    public static let ENODEV = Errno(rawValue: Glibc.ENODEV)
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    public static let ENOSPC = Errno(rawValue: Glibc.ENOSPC)
    public static let EROFS = Errno(rawValue: Glibc.EROFS)
    public static let ENOTSUP = Errno(rawValue: Glibc.EOPNOTSUPP)
    public static let EDQUOT = Errno(rawValue: Glibc.EDQUOT)
    public static let ENOTCONN = Errno(rawValue: Glibc.ENOTCONN)
    public static let ETIMEDOUT = Errno(rawValue: Glibc.ETIMEDOUT)
    public static let ECONNREFUSED = Errno(rawValue: Glibc.ECONNREFUSED)
    public static let EHOSTUNREACH = Errno(rawValue: Glibc.EHOSTUNREACH)

    /// Not an errno: dm's `BLK_STS_DM_REQUEUE` as it crosses a stack. A stacked device ends a
    /// request with it when one of its targets asked to requeue the request's bio and the
    /// device that issued the request may push it back (``BlockIOCompletion/issuingDevice``);
    /// that device's core turns it into a requeue of its own clone (``CloneOutcome/init(_:)``).
    /// Only requests with an issuing device ever see it.
    static let requeue = Errno(rawValue: -1)

    private static let names: [Int32: String] = [
        Glibc.EPERM: "EPERM", Glibc.ENOENT: "ENOENT", Glibc.EINTR: "EINTR", Glibc.EIO: "EIO",
        Glibc.E2BIG: "E2BIG", Glibc.EAGAIN: "EAGAIN", Glibc.ENOMEM: "ENOMEM",
        Glibc.EACCES: "EACCES", Glibc.EBUSY: "EBUSY", Glibc.EEXIST: "EEXIST",
        Glibc.ENODEV: "ENODEV", Glibc.EINVAL: "EINVAL", Glibc.ENOSPC: "ENOSPC",
        Glibc.EROFS: "EROFS", Glibc.EOPNOTSUPP: "ENOTSUP", Glibc.EDQUOT: "EDQUOT",
        Glibc.ENOTCONN: "ENOTCONN", Glibc.ETIMEDOUT: "ETIMEDOUT", Glibc.ECONNREFUSED: "ECONNREFUSED",
        Glibc.EHOSTUNREACH: "EHOSTUNREACH",
    ]

    /// The symbolic name (`"EIO"`), or `"E<number>"` for codes without one here.
    public var name: String { self == .requeue ? "DM_REQUEUE" : Self.names[rawValue] ?? "E\(rawValue)" }

    /// Looks an errno up by its symbolic name (`"EIO"`); `nil` when unknown.
    public init?(name: String) {
        guard let entry = Self.names.first(where: { $0.value == name }) else { return nil }
        self.rawValue = entry.key
    }

    /// The current thread's `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    public var description: String { name }
}
