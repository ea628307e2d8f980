import Dispatch
import Synchronization

/// Where the engine runs system calls that may block for long: `fsync` (every flush and FUA)
/// and `fallocate` (discard, write-zeroes), which wait for the disk, not for the page cache.
/// They run on a few serial dispatch queues of their own (each its own thread while busy, apart
/// from Swift concurrency's and NIO's threads), so that the thread that submitted the bio (an
/// NBD connection's event loop, say) goes on serving other requests meanwhile; the bio ends
/// from that queue's thread, as any bio may end on any thread. Calls are spread round-robin,
/// so up to ``width`` disks' slow calls proceed at once.
///
/// `pread` and `pwrite` stay on the submitting thread: on a page-cache hit they take about a
/// microsecond on tmpfs, less than the two thread switches a hop would add. (On ext4 with large
/// folios, Linux 6.18, a 4 KiB `pwrite` into a file written earlier in large pieces was
/// measured at about 16 µs: the kernel walks every block of the folio. A mirror, which writes
/// every leg, times its legs' writes and hands a leg that slow to a queue of its own, so that
/// its `pwrite` runs beside the other leg's: ``MirrorLegWriter``.)
enum BlockingIO {
    /// How many such calls may run at once.
    static let width = 4
    private static let queues = (0..<width).map { DispatchQueue(label: "mapperd.blocking-io.\($0)") }
    private static let next = Atomic<Int>(0)

    /// Runs `body` on one of the queues.
    static func run(_ body: @escaping @Sendable () -> Void) {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        queues[index & (width - 1)].async(execute: body)
    }
}
