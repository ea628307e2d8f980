#if canImport(Glibc)
    import Glibc
#endif

/// One large allocation carved into many ``IOBuffer``s (start-up recovery loads every queued
/// payload into one arena: one huge-page-backed mapping instead of 100,000 small ones, which
/// matters because first-touch page faults dominate the cost of loading them).
///
/// Filling is single-threaded (``copy(_:count:)`` before the buffers are shared); the memory is
/// released when the arena and every buffer carved from it are gone.
public final class IOArena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    public let capacity: Int
    private var used = 0

    /// Reserves `capacity` bytes (rounded up to 2 MiB), asking for transparent huge pages.
    public init(capacity: Int) {
        let huge = 2 << 20
        let size = max(huge, (capacity + huge - 1) / huge * huge)
        var pointer: UnsafeMutableRawPointer?
        if posix_memalign(&pointer, huge, size) != 0 || pointer == nil {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        }
        base = pointer ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        _ = madvise(base, size, MADV_HUGEPAGE)
        self.capacity = size
    }

    deinit { free(base) }

    /// Copies `count` bytes from `source` into the next free space (4 KiB aligned) and returns
    /// a buffer over them, or `nil` when the arena is full.
    public func copy(_ source: UnsafeRawPointer, count: Int) -> IOBuffer? {
        let offset = (used + 4095) & ~4095
        guard offset + count <= capacity else { return nil }
        (base + offset).copyMemory(from: source, byteCount: count)
        used = offset + count
        return IOBuffer(arena: self, offset: offset, count: count)
    }
}
