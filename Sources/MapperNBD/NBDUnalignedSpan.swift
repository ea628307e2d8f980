/// The arithmetic of a byte range that is not aligned to 512-byte sectors: the partial
/// sectors at its ends and the whole sectors between them. Pure; tested as a table.
///
/// A range inside one sector that does not cover it whole has only a ``head``. Otherwise
/// ``head`` is the first sector when the range starts inside it, ``tail`` the last sector
/// when the range ends inside it, and ``middle`` the whole sectors in between (possibly
/// none). ``covering`` is every sector the range touches. Used by ``NBDUnalignedIO`` for
/// read-modify-write; an aligned range has no head and no tail.
struct NBDUnalignedSpan: Equatable, Sendable {
    static let sectorSize: UInt64 = 512

    /// A partly covered sector: the bytes `from..<from+count` of sector `sector`.
    struct Partial: Equatable, Sendable {
        var sector: UInt64
        var from: Int
        var count: Int
    }

    let offset: UInt64
    let length: UInt64
    let head: Partial?
    let tail: Partial?
    /// The whole sectors strictly inside the range.
    let middle: Range<UInt64>

    /// The span of `length` bytes from `offset`; `length` must be positive.
    init(offset: UInt64, length: UInt64) {
        precondition(length > 0, "empty span")
        let size = Self.sectorSize
        self.offset = offset
        self.length = length
        let end = offset + length
        let first = offset / size
        let last = (end - 1) / size
        if first == last && (offset % size != 0 || end % size != 0) {
            head = Partial(sector: first, from: Int(offset % size), count: Int(length))
            tail = nil
            middle = first..<first
            return
        }
        head = offset % size == 0 ? nil : Partial(sector: first, from: Int(offset % size), count: Int(size - offset % size))
        tail = end % size == 0 ? nil : Partial(sector: last, from: 0, count: Int(end % size))
        let alignedStart = (offset + size - 1) / size
        let alignedEnd = end / size
        middle = alignedStart..<max(alignedStart, alignedEnd)
    }

    /// Whether offset and length are both multiples of the sector size.
    var aligned: Bool { head == nil && tail == nil }

    /// Every sector the range touches, first to last.
    var covering: Range<UInt64> {
        let size = Self.sectorSize
        return (offset / size)..<((offset + length + size - 1) / size)
    }

    /// Where the range starts inside a buffer that holds ``covering``.
    var offsetInCovering: Int { Int(offset % Self.sectorSize) }

    /// The partial sectors, head first: the sectors a read-modify-write must read and lock.
    var partials: [Partial] { [head, tail].compactMap { $0 } }
}
