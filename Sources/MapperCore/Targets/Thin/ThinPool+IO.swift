/// Thin devices' I/O (dm-thin's `thin_bio_map` and its workers), one pool block at a time:
/// the core splits a thin device's bios at block boundaries (``ThinTarget/maxIOSectors``).
extension ThinPool {
    /// What a clone to a thin device needs, decided under the lock.
    enum Decision {
        case remap(any BlockDevice, UInt64)
        /// Reads of an unmapped block: zeroes.
        case zeroes
        /// Waits for the block's provisioning, and is mapped again after it.
        case wait
        /// Written to newly allocated data block `to`, copying `from` around it (breaking
        /// sharing) or zeroes (`from == nil`, unless `to` reads as zeroes), then mapped.
        case provision(
            to: UInt64, from: UInt64?, zeroing: Bool, zeroes: ThinZeroedBlocks.Answer,
            allocation: (any AllocationReporting)?, dataBlocks: UInt64, device: any BlockDevice)
        /// Unmaps the block; passes the discard down to data block `passdown` first, if any.
        case unmap(passdown: UInt64?, device: any BlockDevice)
        /// No free data block: the thin device holds it.
        case hold
        case done
        case fail(Errno)
    }

    func map(_ clone: Clone, thin: ThinTarget) -> MapResult {
        let block = clone.targetOffset / dataBlockSectors
        let offset = clone.targetOffset % dataBlockSectors
        let key = Key(device: thin.deviceID, block: block)
        if clone.op == .flush {
            requestCommit { durable in clone.end(durable ? .ok : .error(.EIO)) }
            return .submitted
        }
        var changed = false
        var lowWater: (TargetContext?, UInt64)?
        let decision = state.withLock { state -> Decision in
            // The metadata is used in place: a copy of it would copy every node.
            guard state.failure == nil, state.metadata != nil else { return .fail(.EIO) }
            // (Most I/O finds nothing provisioning: no key is hashed then.)
            if !state.provisioning.isEmpty, state.provisioning[key] != nil {
                state.provisioning[key]?.append(clone)
                return .wait
            }
            let mapping = state.metadata?.lookup(device: thin.deviceID, block: block)
            let data = state.arguments.dataDevice
            switch clone.op {
            case .read:
                guard let mapping else { return .zeroes }
                return .remap(data, mapping.dataBlock * dataBlockSectors + offset)
            case .discard:
                guard !state.arguments.ignoreDiscard, !state.arguments.readOnly, let mapping else { return .done }
                // A discard of part of a block changes nothing (dm passes it down only to an
                // unshared block; the block stays mapped either way).
                guard offset == 0, clone.sectors == dataBlockSectors else { return .done }
                state.provisioning[key] = []
                let passdown = !mapping.shared && !state.arguments.noDiscardPassdown
                return .unmap(passdown: passdown ? mapping.dataBlock : nil, device: data)
            default:
                if let mapping, !mapping.shared { return .remap(data, mapping.dataBlock * dataBlockSectors + offset) }
                if state.arguments.readOnly { return .fail(.EIO) }
                guard let fresh = state.metadata?.allocateDataBlock() else {
                    state.allocationFailed = true
                    if state.arguments.errorIfNoSpace || state.noSpaceTimedOut { return .fail(.ENOSPC) }
                    return .hold
                }
                state.allocationFailed = false
                let free = UInt64(state.metadata?.data.free ?? 0)
                if free <= state.arguments.lowWaterMark && !state.lowWaterAnnounced {
                    state.lowWaterAnnounced = true
                    lowWater = (state.context, free)
                }
                state.provisioning[key] = []
                changed = true
                return .provision(
                    to: fresh, from: mapping?.dataBlock, zeroing: !state.arguments.skipBlockZeroing,
                    zeroes: state.zeroed.allocated(fresh), allocation: state.arguments.dataAllocation,
                    dataBlocks: UInt64(state.arguments.dataBlocks), device: data)
            }
        }
        if let (context, free) = lowWater {
            context?.triggerEvent(kind: .thinLowWater, detail: "\(free) data blocks free")
        }
        if changed { scheduleCommit() }
        switch decision {
        case .remap(let device, let sector):
            // Counted until it ends (``ThinTarget/endIO(_:error:)``): a block a discard frees
            // is not handed out again before it has. A file backend has ended its reads and
            // writes when `submit` returns (they run inline: ``FileBackend``, and a test says
            // so), so its I/O needs no count and no end-I/O call.
            if !(device is FileBackend) {
                clone.mapContext = epochs.enter()
                clone.wantsEndIO = true
            }
            device.submit(remapped: clone, to: sector)
            return .submitted
        case .zeroes:
            clone.bio.buffer?.zero(offset: clone.bufferOffset, length: Int(clone.sectors) << 9)
            return .completed
        case .wait:
            return .submitted
        case .provision(let to, let from, let zeroing, let zeroes, let allocation, let dataBlocks, let device):
            ThinProvision(
                pool: self, clone: clone, key: key, offset: offset, to: to, from: from, zeroing: zeroing,
                zeroes: zeroes, allocation: allocation, dataBlocks: dataBlocks, device: device
            ).start()
            return .submitted
        case .unmap(let passdown, let device):
            guard let passdown else {
                unmapped(clone, key: key, error: nil)
                return .submitted
            }
            device.submit(
                BlockRequest(
                    op: .discard, sector: passdown * dataBlockSectors, sectors: dataBlockSectors, buffer: nil,
                    bufferOffset: 0, completion: ThinDiscard(pool: self, clone: clone, key: key)))
            return .submitted
        case .hold:
            holdForSpace(clone, thin: thin)
            return .submitted
        case .done:
            return .completed
        case .fail(let error):
            return .error(error)
        }
    }

    /// A provisioning write ended: maps the block (if it succeeded), ends the clone and maps
    /// again the I/O that waited for the block.
    func provisioned(_ clone: Clone, key: Key, dataBlock: UInt64, error: Errno?) {
        var outcome = CloneOutcome(error)
        var mapped = false
        let waiters = state.withLock { state -> [Clone] in
            state.zeroed.provisionEnded()
            if error == nil, state.failure == nil {
                do {
                    _ = try state.metadata?.insert(device: key.device, block: key.block, dataBlock: dataBlock)
                    mapped = true
                } catch {
                    state.metadata?.releaseDataBlock(dataBlock)
                    outcome = .error((error as? MapperError)?.errno ?? .EIO)
                }
            } else {
                state.metadata?.releaseDataBlock(dataBlock)
            }
            return state.provisioning.removeValue(forKey: key) ?? []
        }
        // The commit the allocation scheduled may have run while the data was written: the
        // new mapping needs one of its own within the period.
        if mapped { scheduleCommit() }
        clone.end(outcome)
        for waiter in waiters { waiter.reissue() }
    }

    /// The data device answered that `zeroBlocks` data blocks from `block` read as zeroes (asked
    /// while provisioning `block`, allocated under `generation`).
    func learnedZeroes(block: UInt64, zeroBlocks: UInt64, generation: UInt64) {
        state.withLock { $0.zeroed.learned(block: block, zeroBlocks: zeroBlocks, generation: generation) }
    }

    /// A whole-block discard's passdown ended (or none was needed): unmaps the block.
    func unmapped(_ clone: Clone, key: Key, error: Errno?) {
        var outcome = CloneOutcome.ok
        let waiters = state.withLock { state -> [Clone] in
            do {
                _ = try state.metadata?.remove(device: key.device, block: key.block)
            } catch {
                outcome = .error((error as? MapperError)?.errno ?? .EIO)
            }
            return state.provisioning.removeValue(forKey: key) ?? []
        }
        scheduleCommit()
        clone.end(outcome)
        for waiter in waiters { waiter.reissue() }
    }

    /// Holds a write that found no free data block, and starts the no-space timeout.
    private func holdForSpace(_ clone: Clone, thin: ThinTarget) {
        let now = MonotonicClock.now()
        let (first, context) = state.withLock { state -> (Bool, TargetContext?) in
            guard state.outOfSpaceSince == nil else { return (false, nil) }
            state.outOfSpaceSince = now
            return (true, state.context)
        }
        thin.hold(clone)
        // Blocks unmapped in this transaction are free once it is committed (dm commits
        // before it gives up on an allocation); and the pool may have grown since the
        // decision: then the write goes on at once.
        requestCommit { _ in }
        if state.withLock({ ($0.metadata?.data.free ?? 0) > 0 }) { thin.retryHeld() }
        guard first else { return }
        context?.triggerEvent(kind: .thinOutOfSpace, detail: "data device full: writes that need a block are held")
        let timeout = engine.thinNoSpaceTimeout
        guard timeout > .zero else { return }
        Task {
            try? await Task.sleep(for: timeout)
            self.noSpaceTimeoutPassed(since: now)
        }
    }

    /// The no-space timeout passed: held writes fail with ENOSPC, and so do new ones until the
    /// pool grows (dm's `no_space_timeout`).
    private func noSpaceTimeoutPassed(since: Int64) {
        let thins = state.withLock { state -> [ThinTarget] in
            guard state.outOfSpaceSince == since else { return [] }
            state.noSpaceTimedOut = true
            return Array(state.thins.values)
        }
        for thin in thins { thin.failHeld(.ENOSPC) }
    }
}
