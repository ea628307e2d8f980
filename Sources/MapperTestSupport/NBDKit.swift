import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `nbdkit` (Debian's) serving one plugin on a loopback TCP port, for the NBD client's
/// tests. The test binds the port itself (port 0: a free one) and hands the listening socket
/// to nbdkit by socket activation (`LISTEN_FDS`), so the server accepts connections from the
/// moment ``start()`` returns, with nothing to poll. ``kill()`` ends it at once (SIGKILL, as
/// a crash would) and closes the socket, so connecting is refused; ``start()`` again binds
/// the same port and serves the same plugin.
public final class NBDKit: @unchecked Sendable {
    private let arguments: [String]
    private let lock = NSLock()
    private var process: Process?
    private var exited: AsyncStream<Void>?
    private var listener: Int32 = -1
    /// The port, fixed by the first ``start()``.
    public private(set) var port: UInt16 = 0

    /// Whether nbdkit is installed.
    public static var isAvailable: Bool { path != nil }

    private static var path: String? {
        ["/usr/sbin/nbdkit", "/usr/bin/nbdkit", "/usr/local/bin/nbdkit"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    /// `arguments` are the plugin and its parameters (`["file", "/tmp/x.img"]`,
    /// `["memory", "16M"]`), optionally preceded by `--filter=...` options.
    public init(_ arguments: [String]) {
        self.arguments = arguments
    }

    /// The export's URI (the default export).
    public var uri: String { "nbd://127.0.0.1:\(port)/" }

    /// Binds the port and starts the server on it.
    public func start() throws {
        guard let path = Self.path else { throw CocoaError(.executableNotLoadable) }
        let fd = try bind()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The listening socket arrives as standard input; the shell moves it to fd 3 and
        // becomes nbdkit, whose pid LISTEN_PID must name.
        process.arguments = [
            "-c", "exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" -f \"$@\"", path,
        ] + arguments
        process.standardInput = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let (exited, continuation) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in continuation.finish() }
        try process.run()
        lock.withLock {
            self.process = process
            self.exited = exited
            self.listener = fd
        }
    }

    private func bind() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        return fd
    }

    /// Kills the server with SIGKILL, closes the listening socket and returns once the
    /// process is gone: its connections are reset and new ones refused.
    public func kill() async {
        let (process, exited, fd) = takeProcess()
        if let process, process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        if fd >= 0 { close(fd) }
        if let exited { for await _ in exited {} }
    }

    private func takeProcess() -> (Process?, AsyncStream<Void>?, Int32) {
        lock.withLock {
            defer {
                self.process = nil
                self.exited = nil
                self.listener = -1
            }
            return (self.process, self.exited, self.listener)
        }
    }

    deinit {
        let (process, _, fd) = takeProcess()
        if let process, process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        if fd >= 0 { close(fd) }
    }
}
