/// One client's own supply of bios for an ``ExportSession``, in the manner of the kernel's
/// per-CPU bio cache (`bio_alloc_cache`): a bio the client is done with goes back here and
/// the next request gets it renewed instead of a new allocation, and ids come from a block
/// the cache holds, so making a bio takes no lock and writes nothing shared.
///
/// Threading: not `Sendable`. One owner uses it, one call at a time (an NBD connection on its
/// event loop, a benchmark's submitter); the bios it makes go anywhere, as any bio does.
///
/// Recycling is never wrong, only sometimes useless: ``recycle(_:)`` keeps a bio only if the
/// caller held the last reference and nothing ever waited on it, held it or journaled it
/// (``Bio/isRenewable``); any other bio is simply let go.
///
/// The cache also keeps such a bio's buffer, if the bio held the last reference to it, for
/// ``buffer(count:)`` to give to a later read: a read's destination then costs no page-aligned
/// allocation and lands in memory the caches still hold (about a tenth of a 4 KiB page-cache
/// read). A buffer anything else refers to (a clone still in flight, an NBD backend's request,
/// a reply being written) is never kept, so no I/O can write into a buffer given out again.
public final class BioCache {
    public let session: ExportSession
    // The three fields below have one owner (see Threading), so they skip Swift's dynamic
    // exclusivity checks, which cost two runtime calls per access on every request.

    /// The ids left in the cache's block (`nil`: take a new block from the engine).
    @exclusivity(unchecked) private var ids: ClosedRange<UInt64>?
    /// Ended bios to renew, each held only here, linked through ``Bio/nextSpare``.
    @exclusivity(unchecked) private var spare: Bio?
    /// Spare bios held now (diagnostics and tests).
    @exclusivity(unchecked) public private(set) var spareCount = 0
    /// At most this many spare bios (a connection's usual queue depth is far below).
    public static let spareLimit = 64
    /// Buffers kept for reads, each held only here.
    @exclusivity(unchecked) private var spareBuffers: [IOBuffer] = []
    /// Their bytes.
    @exclusivity(unchecked) private var spareBufferBytes = 0
    /// At most this many spare buffers, of at most ``spareBufferLimit`` bytes in all, none
    /// larger than ``spareBufferMaximum``.
    public static let spareBufferCountLimit = 32
    public static let spareBufferLimit = 1 << 20
    public static let spareBufferMaximum = 128 << 10
    /// Spare buffers held now (diagnostics and tests).
    public var spareBufferCount: Int { spareBuffers.count }

    public init(session: ExportSession) {
        self.session = session
    }

    /// A bio for one of the client's requests, to submit through ``session``, with an
    /// engine-unique id: a spare one renewed, or a new allocation.
    public func makeBio(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int = 0,
        endIO: (any BlockIOCompletion)? = nil
    ) -> Bio {
        let range = ids ?? session.reserveIDBlock()
        ids = range.lowerBound < range.upperBound ? (range.lowerBound + 1)...range.upperBound : nil
        guard let bio = spare else {
            return Bio(
                id: range.lowerBound, op: op, sector: sector, sectors: sectors, buffer: buffer,
                bufferOffset: bufferOffset, endIO: endIO)
        }
        spare = bio.nextSpare
        bio.nextSpare = nil
        spareCount -= 1
        bio.renew(
            id: range.lowerBound, op: op, sector: sector, sectors: sectors, buffer: buffer,
            bufferOffset: bufferOffset, endIO: endIO)
        return bio
    }

    /// Hands back a bio that has ended and that the client is done with (its reply sent);
    /// `bio` becomes `nil`. Kept to renew if `bio` held the last reference and the bio is
    /// ``Bio/isRenewable``; otherwise only let go.
    public func recycle(_ bio: inout Bio?) {
        guard var taken = bio.take(), isKnownUniquelyReferenced(&taken), taken.isRenewable else { return }
        if var buffer = taken.takeBuffer(), isKnownUniquelyReferenced(&buffer) { keep(buffer) }
        guard spareCount < Self.spareLimit else { return }
        taken.dropReferences()
        taken.nextSpare = spare
        spare = taken
        spareCount += 1
    }

    /// A buffer of exactly `count` bytes for a read to fill, its contents unspecified (as
    /// ``IOBuffer/uninitialized(count:)``): a spare one, or a new allocation.
    public func buffer(count: Int) -> IOBuffer {
        if let index = spareBuffers.lastIndex(where: { $0.count == count }) {
            spareBufferBytes -= count
            return spareBuffers.swapRemoveAt(index)
        }
        return IOBuffer.uninitialized(count: count)
    }

    /// Keeps `buffer`, which only the caller refers to, if it owns its storage and there is
    /// room.
    private func keep(_ buffer: IOBuffer) {
        guard buffer.ownsStorage, buffer.count <= Self.spareBufferMaximum,
            spareBuffers.count < Self.spareBufferCountLimit,
            spareBufferBytes + buffer.count <= Self.spareBufferLimit
        else { return }
        spareBuffers.append(buffer)
        spareBufferBytes += buffer.count
    }
}

extension Array {
    /// Removes the element at `index` by moving the last one into its place (order is not kept).
    fileprivate mutating func swapRemoveAt(_ index: Int) -> Element {
        swapAt(index, count - 1)
        return removeLast()
    }
}
