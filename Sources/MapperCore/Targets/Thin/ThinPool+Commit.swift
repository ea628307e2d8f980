/// Commits (see ``ThinPool``, "Commits").
extension ThinPool {
    /// Asks for a commit of everything changed so far; `done` is told whether it is durable.
    /// Served by the next commit to start.
    func requestCommit(_ done: @escaping @Sendable (Bool) -> Void) {
        let start = state.withLock { state -> Bool in
            state.commitWaiters.append(done)
            if state.committing { return false }
            state.committing = true
            return true
        }
        if start { Task { await self.runCommits() } }
    }

    /// Commits now and returns whether it is durable.
    @discardableResult
    func commit() async -> Bool {
        await withCheckedContinuation { continuation in
            requestCommit { continuation.resume(returning: $0) }
        }
    }

    /// Schedules a commit ``EngineServices/thinCommitPeriod`` from now, unless one is
    /// scheduled (call after a change, outside the lock).
    func scheduleCommit() {
        let schedule = state.withLock { state -> Bool in
            guard !state.commitScheduled, !state.closed else { return false }
            state.commitScheduled = true
            return true
        }
        guard schedule else { return }
        Task {
            try? await Task.sleep(for: self.engine.thinCommitPeriod)
            self.state.withLock { $0.commitScheduled = false }
            self.requestCommit { _ in }
        }
    }

    private func runCommits() async {
        while true {
            let (waiters, prepared) = state.withLock {
                state -> ([@Sendable (Bool) -> Void], Result<(ThinMetadata.Commit?, any BlockDevice), MapperError>) in
                let waiters = state.commitWaiters
                state.commitWaiters = []
                guard !waiters.isEmpty else {
                    state.committing = false
                    return ([], .success((nil, state.arguments.dataDevice)))
                }
                if let failure = state.failure { return (waiters, .failure(MapperError(.EIO, failure))) }
                guard let changed = state.metadata?.changed else {
                    return (waiters, .failure(MapperError(.EIO, "the pool's metadata is not open")))
                }
                var commit: ThinMetadata.Commit?
                if changed && !state.arguments.readOnly {
                    do {
                        // In place: a copy of the metadata would copy every node.
                        commit = try state.metadata?.prepareCommit()
                    } catch {
                        state.failure = "commit: \(error)"
                        return (waiters, .failure(MapperError(.EIO, "\(error)")))
                    }
                }
                return (waiters, .success((commit, state.arguments.dataDevice)))
            }
            guard !waiters.isEmpty else { return }
            var durable = false
            if case .success(let (commit, dataDevice)) = prepared {
                durable = await write(commit, dataDevice: dataDevice)
                // Blocks this commit released become free below: not before the reads and
                // writes mapped to them before they were unmapped have ended.
                if commit != nil { await epochs.flipAndDrain() }
                var freed: [ThinTarget] = []
                let context = state.withLock { state -> TargetContext? in
                    if commit != nil { state.metadata?.commitEnded(durable: durable) }
                    // Blocks the commit freed let the writes held for space go on.
                    if durable, state.outOfSpaceSince != nil, (state.metadata?.data.free ?? 0) > 0 {
                        state.outOfSpaceSince = nil
                        state.noSpaceTimedOut = false
                        freed = Array(state.thins.values)
                    }
                    guard !durable, state.failure == nil else { return nil }
                    state.failure = "a metadata commit failed"
                    return state.context
                }
                for thin in freed { thin.retryHeld() }
                if let context {
                    engine.logger.error("thin pool on '\(metadataDevice.name)': a metadata commit failed")
                    context.triggerEvent(kind: .thinPoolFailed, detail: "a metadata commit failed")
                }
            }
            for waiter in waiters { waiter(durable) }
        }
    }

    /// Flushes the data device, then writes a prepared commit: its blocks, a flush, the
    /// superblock, a flush.
    private func write(_ commit: ThinMetadata.Commit?, dataDevice: any BlockDevice) async -> Bool {
        guard await AwaitedIO.start(.flush, on: dataDevice).outcome() == nil else { return false }
        guard let commit else { return true }
        let sectors = ThinMetadataFormat.blockSectors
        let ios = commit.blocks.map { block, bytes in
            AwaitedIO.start(
                .write, on: metadataDevice, sector: block * sectors, sectors: sectors, buffer: IOBuffer(copying: bytes))
        }
        guard await AwaitedIO.all(ios) == nil,
            await AwaitedIO.start(.flush, on: metadataDevice).outcome() == nil,
            await AwaitedIO.start(
                .write, on: metadataDevice, sector: UInt64(commit.superblock.slot) * sectors, sectors: sectors,
                buffer: IOBuffer(copying: commit.superblockBytes)
            ).outcome() == nil
        else { return false }
        return await AwaitedIO.start(.flush, on: metadataDevice).outcome() == nil
    }
}
