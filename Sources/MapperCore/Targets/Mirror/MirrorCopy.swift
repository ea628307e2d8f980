import Synchronization

/// Resync of one region: read it from the default mirror, write it to the others, then tell
/// the target. Its reads and writes are ``BlockRequest/dontCache``: like dm-kcopyd's, which
/// bypass the page cache, a copy leaves the cache as it found it. The target starts it on its
/// copy queue (``MirrorTarget/copyQueue``); a leg that answers inline runs the rest there too.
///
/// The writes go out in pieces of ``writePiece`` (as dm-kcopyd splits a copy into sub-jobs): a
/// file's writes hold its inode lock, and foreground writes to the same leg wait at most for
/// one piece, not for a whole region.
final class MirrorCopy: MirrorLegReceiver {
    private let target: MirrorTarget
    private let region: Int
    private let sector: UInt64
    private let sectors: UInt64
    private let buffer: IOBuffer
    /// The default mirror it reads, and the live mirrors it writes.
    private let source: Int
    private let destinations: [Int]
    private let state: Mutex<(reading: Bool, remaining: Int, failed: Bool)>
    /// The most sectors one write of the copy carries (64 KiB).
    static let writePiece: UInt64 = 128
    /// When the copy started (monotonic nanoseconds).
    private let started = MonotonicClock.now()

    init(target: MirrorTarget, region: Int) {
        self.target = target
        self.region = region
        sector = UInt64(region) * target.regionSize
        sectors = min(target.regionSize, target.context.length - sector)
        buffer = IOBuffer.uninitialized(count: Int(sectors) << 9)
        let live = target.liveLegs
        source = live.first ?? 0
        destinations = Array(live.dropFirst())
        state = Mutex((true, 1, false))
    }

    func start() {
        guard !destinations.isEmpty else {
            // Every other leg is dead: the region cannot be brought in sync.
            target.copyEnded(region: region, success: false, took: 0)
            return
        }
        let source = target.legs[source]
        var read = BlockRequest(
            op: .read, sector: source.offset + sector, sectors: sectors, buffer: buffer, bufferOffset: 0,
            completion: MirrorLegEnd(self, leg: self.source))
        read.dontCache = true
        source.device.submit(read)
    }

    /// Leg `leg`'s answer (the source's read, or a destination's write): a failure is a sync
    /// error on that leg (dm's `S`).
    func legEnded(_ leg: Int, _ error: Errno?) {
        // A stacked leg that handed the copy back (the device is in a noflush suspend) failed
        // nothing: the region stays out of sync for the next resync.
        if error != nil && error != .requeue { target.recordFailure(.sync, on: leg) }
        enum Next { case write, wait, end(Bool) }
        let next = state.withLock { state -> Next in
            if error != nil { state.failed = true }
            if state.reading {
                state.reading = false
                if state.failed { return .end(false) }
                state.remaining = destinations.count * Int((sectors + Self.writePiece - 1) / Self.writePiece)
                return .write
            }
            state.remaining -= 1
            return state.remaining == 0 ? .end(!state.failed) : .wait
        }
        switch next {
        case .write:
            for index in destinations {
                let leg = target.legs[index]
                let end = MirrorLegEnd(self, leg: index)
                var offset: UInt64 = 0
                while offset < sectors {
                    let piece = min(Self.writePiece, sectors - offset)
                    var write = BlockRequest(
                        op: .write, sector: leg.offset + sector + offset, sectors: piece, buffer: buffer,
                        bufferOffset: Int(offset) << 9, completion: end)
                    write.dontCache = true
                    leg.device.submit(write)
                    offset += piece
                }
            }
        case .wait:
            break
        case .end(let success):
            target.copyEnded(region: region, success: success, took: MonotonicClock.now() - started)
        }
    }

    var issuingDevice: MappedDevice? { target.context.device }
}
