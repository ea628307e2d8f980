import Synchronization

/// A thin pool (dm-thin's `struct pool`): the metadata of every thin device on one metadata
/// device, the data device their blocks live on, and the I/O waiting for either. Made by the
/// first `thin-pool` line naming the metadata device and kept by the ``ThinPoolRegistry`` while
/// any line or thin device uses it, so that a reload of the pool (a larger data device, other
/// features) keeps its state and its held I/O.
///
/// **Order of a first write to a block** (dm's provisioning): a data block is allocated under
/// the lock, and the block of the thin device is locked (``State/provisioning``: later I/O to
/// it waits); the data is written (a whole block: zeroes around a partial write, or the old
/// block's data when sharing is broken); only then is the mapping inserted and the write
/// answered. So a commit never maps a block whose data was not written before it.
///
/// **Commits** (``requestCommit(_:)``): on a flush to any thin device, after a message, and at
/// most ``EngineServices/thinCommitPeriod`` after any change (a change made while a commit is
/// being prepared or written asks for the next one: a mapping inserted when its data write
/// ended, after the commit its allocation asked for had run, is committed within the period
/// too). One runs at a time; a request made while one runs is served by the next. A commit
/// prepares its blocks under the lock (so it holds only mappings whose data writes ended),
/// flushes the data device, writes the blocks, flushes the metadata device, writes the
/// superblock and flushes again. A commit that fails puts the pool in `Fail` mode: every I/O
/// then fails with EIO until the pool is opened again.
///
/// **Out of data space**: a write that needs a block when none is free is held by its thin
/// device (journaled like multipath's queue) until the pool grows (a reload with a longer
/// table) or ``EngineServices/thinNoSpaceTimeout`` passes, then fails with ENOSPC; with
/// `error_if_no_space` it fails at once.
///
/// Threading: `map` paths run on any thread and take the lock briefly; I/O is never submitted
/// and no clone ended under it. Opening and commits run in tasks; nothing blocks a thread.
public final class ThinPool: @unchecked Sendable {
    let metadataDevice: any BlockNode
    let dataBlockSectors: UInt64
    let engine: EngineServices
    let state: Mutex<State>
    /// The I/O remapped to the data device, by epoch: released blocks wait for it.
    let epochs = ThinIOEpochs()

    struct State {
        /// The latest pool line's arguments and context (dm's `bind_control_target`).
        var arguments: ThinPoolArguments
        var context: TargetContext?
        var metadata: ThinMetadata?
        /// Why the pool cannot be used (dm's `Fail` mode): its metadata could not be read or a
        /// commit failed.
        var failure: String?
        var opening = false
        var openWaiters: [CheckedContinuation<Void, Never>] = []
        /// Blocks of thin devices being provisioned, with the I/O waiting for each.
        var provisioning: [Key: [Clone]] = [:]
        /// The data blocks known to read as zeroes.
        var zeroed = ThinZeroedBlocks()
        var committing = false
        var commitWaiters: [@Sendable (Bool) -> Void] = []
        var commitScheduled = false
        /// Thin devices of this pool with a live or staged table.
        var thins: [ObjectIdentifier: ThinTarget] = [:]
        /// The low water mark was crossed and announced (cleared when the pool grows).
        var lowWaterAnnounced = false
        /// Out of data space since (monotonic nanoseconds), while writes are held.
        var outOfSpaceSince: Int64?
        /// The latest allocation found no free data block (held or failed, as dm's pool enters
        /// `PM_OUT_OF_DATA_SPACE` either way): the status says `out_of_data_space` while every
        /// block is in use. Cleared when the pool grows or an allocation succeeds.
        var allocationFailed = false
        /// The no-space timeout passed: writes needing a block fail until the pool grows.
        var noSpaceTimedOut = false
        var closed = false
    }

    struct Key: Hashable {
        var device: UInt64
        var block: UInt64
    }

    init(arguments: ThinPoolArguments, engine: EngineServices) {
        metadataDevice = arguments.metadataDevice
        dataBlockSectors = arguments.dataBlockSectors
        self.engine = engine
        state = Mutex(State(arguments: arguments))
    }

    // MARK: Opening and binding

    /// Makes `arguments` the pool's (dm binds a pool line at its resume): the data device,
    /// features and low water mark of the table going live. Grows the data space when the
    /// line is longer.
    func bind(_ arguments: ThinPoolArguments, context: TargetContext) {
        let thins = state.withLock { state -> [ThinTarget] in
            let grew = (state.metadata?.data.count).map { arguments.dataBlocks > $0 } ?? false
            state.arguments = arguments
            state.context = context
            state.zeroed.reset()
            guard grew else { return [] }
            state.metadata?.growData(to: arguments.dataBlocks)
            state.lowWaterAnnounced = false
            state.outOfSpaceSince = nil
            state.allocationFailed = false
            state.noSpaceTimedOut = false
            return Array(state.thins.values)
        }
        for thin in thins { thin.retryHeld() }
    }

    /// Binds the first line that names the pool at once, so that thin lines can be loaded
    /// before it resumes.
    func bindIfUnbound(_ arguments: ThinPoolArguments, context: TargetContext) {
        state.withLock { state in
            guard state.context == nil else { return }
            state.arguments = arguments
            state.context = context
        }
    }

    /// The data blocks the pool has (0 until it is open).
    var dataBlocks: Int { state.withLock { $0.metadata?.data.count ?? 0 } }

    /// Reads the metadata if it has not been read (every activation of a pool or thin line
    /// calls it); returns once it has been, or has failed.
    func open() async {
        enum Role { case done, wait, read }
        let role = state.withLock { state -> Role in
            if state.metadata != nil || state.failure != nil { return .done }
            if state.opening { return .wait }
            state.opening = true
            return .read
        }
        switch role {
        case .done: return
        case .wait:
            await waitOpen()
            return
        case .read: break
        }
        let (metadataBlocks, dataBlocks) = state.withLock {
            ($0.arguments.metadataBlocks, $0.arguments.dataBlocks)
        }
        var loader = ThinMetadataLoader(
            metadataBlocks: metadataBlocks, dataBlocks: dataBlocks, dataBlockSectors: dataBlockSectors)
        var step = loader.start()
        var outcome: Result<ThinMetadata, MapperError>
        while true {
            if case .read(let numbers) = step {
                var blocks: [UInt64: [UInt8]] = [:]
                var ios: [(UInt64, IOBuffer, AwaitedIO)] = []
                for number in numbers {
                    let buffer = IOBuffer(count: ThinMetadataFormat.blockBytes)
                    let io = AwaitedIO.start(
                        .read, on: metadataDevice, sector: number * ThinMetadataFormat.blockSectors,
                        sectors: ThinMetadataFormat.blockSectors, buffer: buffer)
                    ios.append((number, buffer, io))
                }
                var failed: Errno?
                for (number, buffer, io) in ios {
                    if let error = await io.outcome() {
                        failed = failed ?? error
                    } else {
                        blocks[number] = buffer.bytes
                    }
                }
                if let failed {
                    step = .failed("metadata device '\(metadataDevice.name)' unreadable (\(failed.name))")
                } else {
                    step = loader.received(blocks)
                }
                continue
            }
            if case .loaded(let metadata) = step {
                outcome = .success(metadata)
            } else if case .failed(let reason) = step {
                outcome = .failure(MapperError(.EIO, reason))
            } else {
                continue
            }
            break
        }
        let (waiters, fresh) = state.withLock { state -> ([CheckedContinuation<Void, Never>], Bool) in
            state.opening = false
            switch outcome {
            case .success(let metadata): state.metadata = metadata
            case .failure(let error): state.failure = error.message
            }
            defer { state.openWaiters = [] }
            return (state.openWaiters, state.metadata?.changed ?? false)
        }
        if case .failure(let error) = outcome {
            engine.logger.error("thin pool on '\(metadataDevice.name)' failed: \(error.message)")
            state.withLock { $0.context }?.triggerEvent(kind: .thinPoolFailed, detail: error.message)
        }
        for waiter in waiters { waiter.resume() }
        // A new or grown pool writes its superblock now.
        if fresh { await commit() }
    }

    private func waitOpen() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                guard state.opening else { return true }
                state.openWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes the pool (its last line and thin device are gone): a commit of what changed is
    /// requested, and nothing more is scheduled.
    func close() {
        let changed = state.withLock { state -> Bool in
            state.closed = true
            return state.metadata?.changed ?? false
        }
        if changed { requestCommit { _ in } }
    }

    // MARK: Thin devices

    func attach(_ thin: ThinTarget) {
        state.withLock { $0.thins[ObjectIdentifier(thin)] = thin }
    }

    func detach(_ thin: ThinTarget) {
        state.withLock { $0.thins[ObjectIdentifier(thin)] = nil }
    }

    /// Whether the pool's metadata has thin device `id` (`true` while it is not open yet).
    func hasDevice(_ id: UInt64) -> Bool {
        state.withLock { state in state.metadata.map { $0.devices[id] != nil } ?? true }
    }
}
