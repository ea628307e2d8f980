import NIOPosix

/// Where the engine runs system calls that may block for long: `fsync` (every flush and FUA)
/// and `fallocate` (discard, write-zeroes), which wait for the disk, not for the page cache.
/// They run on NIO's shared thread pool, so that the thread that submitted the bio (an NBD
/// connection's event loop, say) goes on serving other requests meanwhile; the bio ends from
/// the pool's thread, as any bio may end on any thread.
///
/// `pread` and `pwrite` stay on the submitting thread: on a page-cache hit they take about a
/// microsecond, less than the two thread switches a hop would add.
enum BlockingIO {
    /// Runs `body` on the pool.
    static func run(_ body: @escaping @Sendable () -> Void) {
        NIOThreadPool.singleton.submit { _ in body() }
    }
}
