/// The run of data blocks the pool knows to read as zeroes (a hole of a sparse data file), so
/// that a partial first write to a new block skips zeroing it without asking the data device
/// each time: a new pool's data file is one hole, and the allocator hands its blocks out in
/// order, so one question (one `lseek` on a file, ``AllocationReporting``) serves every first
/// write up to the next data.
///
/// The pool asks the data device when it allocates a block outside the run, and learns the
/// run of zero blocks that starts there; allocating a block inside the run gives the block data
/// soon, so it and every block below it leave the run (a run only shrinks from below).
///
/// Contract (the pool's lock serialises every call): each data block the pool allocates is
/// passed to ``allocated(_:)`` before its data are written, and each such provisioning ends
/// with ``provisionEnded()``; only the pool writes to its data device's unmapped blocks (the
/// data device is the pool's, as in dm), and blocks it maps hold data. An answer is taken only
/// when, since the block it was asked for was allocated, no other block was allocated and no
/// provisioning ended, and no other provisioning is in flight: any of those could write a block
/// after the device answered. Otherwise nothing is learned, which is always correct (the next
/// first write asks again). ``reset()`` forgets everything (the pool was bound to a line,
/// whose data device may differ).
struct ThinZeroedBlocks: Equatable {
    /// Data blocks that read as zeroes.
    private(set) var known: Range<UInt64> = 0..<0
    /// Changes at every allocation, provisioning end and reset: an answer to a question asked
    /// before is stale.
    private(set) var generation: UInt64 = 0
    /// Provisioning writes allocated and not yet ended.
    private(set) var inFlight = 0

    enum Answer: Equatable {
        /// The block reads as zeroes.
        case zeroes
        /// Unknown: ask the data device, then tell ``learned(block:zeroBlocks:generation:)``.
        case ask(generation: UInt64)
    }

    /// Data block `block` was allocated and will be written.
    mutating func allocated(_ block: UInt64) -> Answer {
        generation &+= 1
        inFlight += 1
        guard known.contains(block) else { return .ask(generation: generation) }
        known = (block + 1)..<known.upperBound
        return .zeroes
    }

    /// A provisioning write (allocated by ``allocated(_:)``) ended, with or without an error.
    mutating func provisionEnded() {
        generation &+= 1
        inFlight = max(0, inFlight - 1)
    }

    /// The data device answered that `zeroBlocks` blocks from `block` (the one allocated under
    /// `generation`, still being provisioned) read as zeroes.
    mutating func learned(block: UInt64, zeroBlocks: UInt64, generation asked: UInt64) {
        guard asked == generation, inFlight == 1, zeroBlocks > 1 else { return }
        known = (block + 1)..<(block + zeroBlocks)
    }

    mutating func reset() {
        generation &+= 1
        known = 0..<0
    }
}
