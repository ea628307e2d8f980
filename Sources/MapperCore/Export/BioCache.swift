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
        guard var taken = bio.take(), spareCount < Self.spareLimit, isKnownUniquelyReferenced(&taken),
            taken.isRenewable
        else { return }
        taken.dropReferences()
        taken.nextSpare = spare
        spare = taken
        spareCount += 1
    }
}
