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
    /// The arena the bytes live in, or `nil` when the buffer owns its allocation.
    private let arena: IOArena?

    /// Allocates `count` zeroed bytes.
    public convenience init(count: Int) {
        self.init(uninitializedCount: count)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
    }

    /// Allocates `count` bytes without zeroing them, for a buffer that is filled at once (a
    /// payload read off a socket, a read destination).
    public static func uninitialized(count: Int) -> IOBuffer { IOBuffer(uninitializedCount: count) }

    private init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 4096)
        self.arena = nil
    }

    /// A buffer over `count` bytes of `arena` from `offset`; keeps the arena alive.
    init(arena: IOArena, offset: Int, count: Int) {
        self.arena = arena
        self.base = arena.base + offset
        self.count = count
    }

    /// Allocates a buffer holding a copy of `bytes` (one `memcpy` for contiguous storage).
    public convenience init<C: Collection>(copying bytes: C) where C.Element == UInt8 {
        self.init(uninitializedCount: bytes.count)
        let copied = bytes.withContiguousStorageIfAvailable { source -> Bool in
            if let address = source.baseAddress { base.copyMemory(from: address, byteCount: source.count) }
            return true
        }
        if copied == nil {
            _ = UnsafeMutableRawBufferPointer(start: base, count: count).initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// Allocates a buffer holding a copy of `data`.
    public convenience init(copying data: Data) {
        self.init(uninitializedCount: data.count)
        data.withUnsafeBytes { source in
            if let address = source.baseAddress { base.copyMemory(from: address, byteCount: source.count) }
        }
    }

    /// Whether the buffer owns its allocation (it is not a slice of an arena).
    public var ownsStorage: Bool { arena == nil }

    deinit {
        if arena == nil { base.deallocate() }
    }

    /// A pointer `offset` bytes into the buffer.
    @inline(__always)
    public func pointer(at offset: Int) -> UnsafeMutableRawPointer { base + offset }

    /// The bytes as an array (copies).
    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }

    /// Fills `length` bytes from `offset` with zeros.
    public func zero(offset: Int, length: Int) {
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: length)
    }
}
