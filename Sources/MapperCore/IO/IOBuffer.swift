import Foundation

/// A fixed-size, page-aligned byte buffer that a bio reads into or writes from.
///
/// Clones of a split bio address disjoint slices of their original's buffer, so a payload is
/// never copied between the caller and `pread`/`pwrite`. The buffer is `@unchecked Sendable`:
/// the core guarantees that at most one I/O touches a given byte range at a time.
public final class IOBuffer: @unchecked Sendable {
    /// The start of the storage.
    public let base: UnsafeMutableRawPointer
    /// The size in bytes.
    public let count: Int

    /// Allocates `count` zeroed bytes.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    /// Allocates a buffer holding a copy of `bytes`.
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(count: bytes.count)
        let target = UnsafeMutableRawBufferPointer(start: base, count: count)
        _ = target.initializeMemory(as: UInt8.self, from: bytes)
    }

    deinit { base.deallocate() }

    /// A pointer `offset` bytes into the buffer.
    @inline(__always)
    public func pointer(at offset: Int) -> UnsafeMutableRawPointer { base + offset }

    /// The bytes as `Data` (copies).
    public var data: Data { Data(bytes: base, count: count) }

    /// The bytes as an array (copies).
    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }

    /// Fills `length` bytes from `offset` with zeros.
    public func zero(offset: Int, length: Int) {
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: length)
    }
}
