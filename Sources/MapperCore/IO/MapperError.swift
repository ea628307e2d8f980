/// The engine's error: an errno plus a human-readable message.
///
/// Every public engine operation throws only this type. `errno` is the stable,
/// machine-readable part; `message` names the object or table line at fault.
public struct MapperError: Error, Sendable, CustomStringConvertible, Equatable {
    public let errno: Errno
    public let message: String

    public init(_ errno: Errno, _ message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String { "\(errno.name): \(message)" }

}
