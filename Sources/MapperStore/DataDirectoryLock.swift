import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on a data directory (`flock` on `mapperd.lock` inside it), so that two
/// servers never open the same state. Released when the process exits, however it exits.
public final class DataDirectoryLock: Sendable {
    private let fd: Int32
    public let path: String

    /// Takes the lock or throws ``StoreError/locked(path:)`` at once (never waits).
    ///
    /// The descriptor is stored only once the lock is held: a class initialiser that throws
    /// after its stored properties are set runs `deinit`, which would close it a second time
    /// (and with it whatever file reused the number meanwhile).
    public init(directory: URL) throws {
        let path = directory.appendingPathComponent("mapperd.lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError.locked(path: directory.path)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        self.path = path
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
