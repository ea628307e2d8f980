import Synchronization

/// A mirror's `disk` region log (dm-log's disk log): which regions may differ between the
/// mirrors, kept on a log device in ``RegionLogFormat`` so that a restart (or `kill -9`)
/// resyncs only those regions.
///
/// **Durability contract.** ``commit(dirty:clean:)`` returns `true` only once the blocks
/// holding the changed bits and the header are written and the log device has been flushed:
/// the mirror issues a write to a region that was clean only after the commit marking it
/// dirty returned `true`. The mirror asks to clear a region's bit only after flushing its
/// mirrors with no write to the region since (``RegionHash/beginCleanPass()``), so that a
/// region is never clean on disk while its mirrors' equal data is still in a volatile cache.
///
/// **Threading.** One commit at a time (the mirror's ``RegionHash`` asks for one flush at a
/// time, and waits for it before a suspend ends); ``load(sync:)`` runs before any commit, from
/// the mirror's preresume. The in-memory
/// bits sit behind a lock, which is never held across I/O. Waits are task suspensions.
///
/// Health: a load or commit that fails marks the log failed (`D` in the mirror's status) until
/// the table is replaced, as dm's disk log does; later commits are still tried.
final class DiskRegionLog: Sendable {
    let device: any BlockNode
    let format: RegionLogFormat
    private let state: Mutex<State>

    private struct State {
        /// Per region: may differ (1 on disk).
        var mayDiffer: [Bool]
        var generation: UInt64 = 0
        var failed = false
    }

    init(device: any BlockNode, format: RegionLogFormat) {
        self.device = device
        self.format = format
        state = Mutex(State(mayDiffer: Array(repeating: true, count: format.regionCount)))
    }

    /// Whether a load or commit failed (dm's `log_dev_failed`).
    var failed: Bool { state.withLock { $0.failed } }

    /// The generation of the last commit (or load) written.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Reads the log and returns which regions are in sync, then writes the whole log back as
    /// that (dm's `disk_resume`): `sync` makes every region out of sync, `nosync` every region
    /// in sync; otherwise a valid log's clean regions are in sync and a new, foreign or
    /// unreadable log makes every region out of sync. The reason a log was not used is
    /// returned with the flags.
    func load(sync: MirrorArguments.LogSync) async -> (inSync: [Bool], problem: String?) {
        var problem: String?
        var mayDiffer = Array(repeating: true, count: format.regionCount)
        var generation: UInt64 = 0
        let header = IOBuffer(count: RegionLogFormat.blockBytes)
        if let error = await AwaitedIO.start(
            .read, on: device, sector: 0, sectors: RegionLogFormat.blockSectors, buffer: header
        ).outcome() {
            problem = "log device '\(device.name)' unreadable (\(error.name)): every region resyncs"
            state.withLock { $0.failed = true }
        } else {
            switch format.decodeHeader(header.bytes) {
            case .valid(let found):
                generation = found
                let bitmap = IOBuffer(count: format.bitmapBlocks * RegionLogFormat.blockBytes)
                if let error = await AwaitedIO.start(
                    .read, on: device, sector: format.sector(ofBitmapBlock: 0),
                    sectors: UInt64(format.bitmapBlocks) * RegionLogFormat.blockSectors, buffer: bitmap
                ).outcome() {
                    problem = "log device '\(device.name)' bitmap unreadable (\(error.name)): every region resyncs"
                    state.withLock { $0.failed = true }
                } else if sync == .default {
                    mayDiffer = format.regions(fromBitmap: bitmap.bytes)
                }
            case .new(let reason):
                if sync == .default { problem = "\(reason): every region resyncs" }
            }
        }
        switch sync {
        case .sync: mayDiffer = Array(repeating: true, count: format.regionCount)
        case .nosync: mayDiffer = Array(repeating: false, count: format.regionCount)
        case .default: break
        }
        state.withLock { state in
            state.mayDiffer = mayDiffer
            state.generation = generation
        }
        // Written back as found (or as `sync`/`nosync` made it), under the next generation.
        if await !writeBack(blocks: Array(0..<format.bitmapBlocks)) {
            problem = problem ?? "log device '\(device.name)' could not be written"
        }
        return (mayDiffer.map { !$0 }, problem)
    }

    /// Makes `dirty` regions dirty and `clean` regions clean, durably, as the log's next
    /// generation. Returns whether all of it succeeded.
    func commit(dirty: [Int], clean: [Int]) async -> Bool {
        var blocks = Set<Int>()
        state.withLock { state in
            for region in dirty {
                state.mayDiffer[region] = true
                blocks.insert(format.bitmapBlock(of: region))
            }
            for region in clean {
                state.mayDiffer[region] = false
                blocks.insert(format.bitmapBlock(of: region))
            }
        }
        return await writeBack(blocks: blocks.sorted())
    }

    /// dm's log status for the mirror's INFO line: `3 disk <log_dev> <A|D>`.
    var status: String { "3 disk \(device.name) \(failed ? "D" : "A")" }

    // MARK: Private

    /// Writes the header and the given bitmap blocks from the in-memory bits, then flushes the
    /// log device.
    private func writeBack(blocks: [Int]) async -> Bool {
        let (generation, images) = state.withLock { state in
            state.generation += 1
            return (state.generation, blocks.map { format.bitmapBlock($0, of: state.mayDiffer) })
        }
        var ios = [
            AwaitedIO.start(
                .write, on: device, sectors: RegionLogFormat.blockSectors,
                buffer: IOBuffer(copying: format.header(generation: generation)))
        ]
        for (block, image) in zip(blocks, images) {
            ios.append(
                AwaitedIO.start(
                    .write, on: device, sector: format.sector(ofBitmapBlock: block),
                    sectors: RegionLogFormat.blockSectors, buffer: IOBuffer(copying: image)))
        }
        var ok = await AwaitedIO.all(ios) == nil
        if ok { ok = await AwaitedIO.start(.flush, on: device).outcome() == nil }
        if !ok { state.withLock { $0.failed = true } }
        return ok
    }
}
