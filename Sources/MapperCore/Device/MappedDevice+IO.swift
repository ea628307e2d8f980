/// The I/O path: submission, splitting, map/end_io and completion aggregation (dm's
/// `dm_request`, `__split_bio`, `__map_bio`, `clone_endio` and `dec_pending`).
extension MappedDevice {
    /// What submission decided under the lock.
    private enum Admission {
        case issue(Table)
        case deferred
        case fail(Errno)
    }

    /// Submits `bio`. Errors in the request itself throw at once: EINVAL beyond the device's
    /// end (or a non-empty flush), EROFS for a write to a read-only device, ENODEV after
    /// removal. Otherwise the bio ends later through ``Bio/wait()`` / its end-I/O receiver:
    /// while the device blocks I/O it waits in `deferred`; without a live table it ends with EIO.
    public func submit(_ bio: Bio) throws {
        if bio.op.isWrite && readOnly {
            throw MapperError(.EROFS, "device '\(name)' is read-only")
        }
        if bio.op == .flush && bio.sectors != 0 {
            throw MapperError(.EINVAL, "a flush carries no data")
        }
        if bio.op != .flush {
            if bio.sectors == 0 { throw MapperError(.EINVAL, "length must be at least one sector") }
            if let buffer = bio.buffer, bio.bufferOffset + bio.byteCount > buffer.count {
                throw MapperError(.EINVAL, "buffer smaller than the bio")
            }
            if bio.buffer == nil && bio.op != .discard {
                throw MapperError(.EINVAL, "\(bio.op.rawValue) needs a buffer")
            }
        }
        // The fast path (``DeviceIOGate``): count the bio, check the gate again, map it.
        if io.isOpen {
            let shard = io.acquire()
            bio.shard = shard
            if io.isOpen, let table = io.unmanagedTable {
                let issued = table._withUnsafeGuaranteedRef { table -> Bool in
                    let (end, overflow) = bio.sector.addingReportingOverflow(bio.sectors)
                    guard bio.op == .flush || (!overflow && end <= table.sizeSectors) else { return false }
                    split(bio, through: table)
                    return true
                }
                if issued { return }
            }
            // The gate closed meanwhile (or the range is wrong): back out of the shard the
            // bio was counted on, go the locked way.
            releasePending(shard: shard)
        }
        let admission = try state.withLock { state -> Admission in
            if state.removed { throw MapperError(.ENODEV, "device '\(state.name)': removed") }
            if bio.op != .flush {
                let size = state.live?.sizeSectors ?? 0
                let (end, overflow) = bio.sector.addingReportingOverflow(bio.sectors)
                if overflow || end > size {
                    throw MapperError(
                        .EINVAL,
                        "I/O \(bio.sector)+\(bio.sectors) sectors beyond the end of '\(state.name)' (\(size) sectors)")
                }
            }
            // The engine-wide count is read only when the device holds I/O (the common case
            // skips it).
            let admitted =
                !state.machine.holdsIO
                || QueueAdmission.admits(
                    bytes: bio.byteCount, deviceHolding: true, deviceHeld: state.machine.heldBytes,
                    totalHeld: engine.heldIO.bytes, limits: engine.heldIO.limits)
            guard admitted else {
                state.refused += 1
                engine.heldIO.countRefusal()
                throw MapperError(
                    .EAGAIN,
                    "queue limits reached: '\(state.name)' holds \(state.machine.heldBytes) bytes of I/O "
                        + "(limit \(engine.heldIO.limits.deviceBytes); \(engine.heldIO.bytes) of "
                        + "\(engine.heldIO.limits.totalBytes) over all devices)")
            }
            if state.machine.blockIO {
                appendDeferred(bio, &state)
                return .deferred
            }
            guard let table = state.live else { return .fail(.EIO) }
            bio.shard = io.acquire()
            return .issue(table)
        }
        switch admission {
        case .issue(let table): split(bio, through: table)
        case .deferred: break
        case .fail(let errno): bioEndIO(bio, errno)
        }
    }

    /// Counts `bio` as held or not held: its bytes in the device's and the engine's held
    /// totals (``QueueAdmission``). Caller holds the lock.
    func countHeld(_ bio: Bio, _ held: Bool, _ state: inout DeviceState) {
        let bytes = held ? bio.byteCount : 0
        let delta = bytes - bio.aggregation.heldBytes
        guard delta != 0 else { return }
        bio.aggregation.heldBytes = bytes
        state.apply { $0.held(bytes: delta) }
        if delta > 0 { engine.heldIO.add(delta) } else { engine.heldIO.remove(-delta) }
    }

    /// Appends to `deferred` and journals it. Caller holds the lock.
    func appendDeferred(_ bio: Bio, _ state: inout DeviceState) {
        countHeld(bio, true, &state)
        let order = state.apply { $0.deferBio(bio) }
        bio.setState(.deferred)
        journalQueued(bio, .deferred, order: order, &state)
    }

    func journalQueued(_ bio: Bio, _ location: BioLocation, order: Int64, _ state: inout DeviceState) {
        let firstEntry = !bio.aggregation.journaled
        bio.aggregation.journaled = true
        let bioState: BioState
        switch location {
        case .deferred: bioState = .deferred
        case .pushback: bioState = .pushback
        case .targetQueue: bioState = .queued
        }
        engine.journal.bioQueued(
            bio, device: state.name, location: location, order: order, firstEntry: firstEntry,
            ack: BioJournalAck(bio: bio, state: bioState))
    }

    /// Splits `bio` into clones at target (and `maxIOSectors`) boundaries and maps each.
    /// The caller has counted the bio in `pending`.
    func split(_ bio: Bio, through table: Table) {
        if bio.op == .flush {
            bio.aggregation = Bio.Aggregation(remaining: table.targets.count, journaled: bio.aggregation.journaled)
            // One clone per target; `remaining` counts them all before the first is issued,
            // so none can end the bio early.
            let clones = table.targets.indices.map { index in
                makeClone(of: bio, piece: index, in: table, index: index, sector: table.starts[index], sectors: 0)
            }
            for clone in clones { issue(clone) }
            return
        }
        // Re-issued bios were range-checked against the table they were submitted to.
        guard bio.sector + bio.sectors <= table.sizeSectors else {
            bio.aggregation = Bio.Aggregation(remaining: 1, journaled: bio.aggregation.journaled)
            decPending(bio: bio, .error(.EIO))
            return
        }
        // The common case: one piece, whose clone is the bio's own (one allocation per bio).
        let index = table.targetIndex(for: bio.sector)
        if bio.sector + bio.sectors <= table.pieceEnd(index: index, sector: bio.sector) {
            bio.aggregation = Bio.Aggregation(remaining: 1, journaled: bio.aggregation.journaled)
            issue(makeClone(of: bio, piece: 0, in: table, index: index, sector: bio.sector, sectors: bio.sectors))
            return
        }
        var clones: [Clone] = []
        forEachPiece(of: bio, in: table) { index, sector, sectors in
            clones.append(
                makeClone(of: bio, piece: clones.count, in: table, index: index, sector: sector, sectors: sectors))
        }
        bio.aggregation = Bio.Aggregation(remaining: clones.count, journaled: bio.aggregation.journaled)
        for clone in clones { issue(clone) }
    }

    /// The clone for piece `piece` of `bio`: the first lives in the bio itself
    /// (``CloneStorage``), later ones get storage of their own.
    @inline(__always)
    private func makeClone(
        of bio: Bio, piece: Int, in table: Table, index: Int, sector: UInt64, sectors: UInt64
    ) -> Clone {
        let storage: CloneStorage
        if piece == 0 {
            storage = bio
        } else {
            storage = CloneStorage()
            storage.cloneOwner = bio
        }
        storage.prepare(
            bio: bio, device: self, target: table.slots[index], hasEndIO: table.hasEndIO[index], targetIndex: index,
            targetStart: table.starts[index], sector: sector, sectors: sectors)
        return Clone(bio: bio, storage: storage)
    }

    @inline(__always)
    private func forEachPiece(
        of bio: Bio, in table: Table, _ body: (_ index: Int, _ sector: UInt64, _ sectors: UInt64) -> Void
    ) {
        var sector = bio.sector
        let end = bio.sector + bio.sectors
        var index = table.targetIndex(for: sector)
        while sector < end {
            let targetEnd = table.end(of: index)
            let pieceEnd = min(end, table.pieceEnd(index: index, sector: sector))
            body(index, sector, pieceEnd - sector)
            sector = pieceEnd
            if sector >= targetEnd { index += 1 }
        }
    }

    /// Maps a clone through its target and carries out the answer (dm's `__map_bio`).
    func issue(_ clone: Clone) {
        switch clone.withTarget({ $0.map(clone) }) {
        case .remapped(let device, let request):
            device.submit(request)
        case .submitted:
            break
        case .requeue:
            decPending(clone, .requeue)
        case .error(let errno):
            decPending(clone, .error(errno))
        case .completed:
            decPending(clone, .ok)
        }
    }

    /// A remapped clone's I/O finished: ask the target, if it has an `end_io` (dm's
    /// `clone_endio`).
    func cloneEndIO(_ clone: Clone, _ error: Errno?) {
        // A stacked device handed the request back (``Errno/requeue``): the clone is
        // requeued as is; the target's `end_io` has nothing to retry.
        guard clone.storage.cloneHasEndIO, error != .requeue else {
            decPending(clone, CloneOutcome(error))
            return
        }
        switch clone.withTarget({ $0.endIO(clone, error: error) }) {
        case .done: decPending(clone, CloneOutcome(error))
        case .error(let errno): decPending(clone, .error(errno))
        case .requeue: decPending(clone, .requeue)
        case .incomplete: break
        }
    }

    /// A clone ended: fold its outcome into the original bio (dm's `dec_pending`).
    @inline(__always)
    func decPending(_ clone: Clone, _ outcome: CloneOutcome) {
        clone.withBio { decPending(bio: $0, outcome) }
    }

    private enum Ending {
        case none
        case pushedBack
        case endIO(Errno?)
    }

    private func decPending(bio: Bio, _ outcome: CloneOutcome) {
        // The fast path (``DeviceIOGate``): the only clone of a bio that was never held ends
        // with ok or an error. No other clone can touch the aggregation, and nothing about it
        // is journaled; a requeue always takes the lock (its noflushSuspending check and the
        // pushback append are one step).
        if bio.aggregation.remaining == 1, !bio.aggregation.journaled, bio.aggregation.outcome == .ok,
            outcome != .requeue
        {
            bio.aggregation.remaining = 0
            bio.aggregation.outcome = outcome
            if case .error(let errno) = outcome {
                if errno != .EIO { logger.debug("bio failed", metadata: ["bio": "\(bio.id)", "error": "\(errno)"]) }
                bioEndIO(bio, errno)
            } else {
                bioEndIO(bio, nil)
            }
            releasePending(shard: bio.shard)
            return
        }
        let (ending, drained) = state.withLock { state -> (Ending, Drained?) in
            bio.aggregation.outcome = bio.aggregation.outcome.merging(
                outcome, noflushSuspending: state.machine.noflushSuspending)
            bio.aggregation.remaining -= 1
            guard bio.aggregation.remaining == 0 else { return (.none, nil) }
            let drained = io.release(shard: bio.shard) ? Self.takeDrained(&state) : nil
            let ending: Ending
            switch bio.aggregation.outcome {
            case .requeue:
                // The check of noflushSuspending and the append are one step (pushback_lock).
                switch state.apply({ $0.requeue(bio) }) {
                case .pushedBack(let order):
                    countHeld(bio, true, &state)
                    bio.setState(.pushback)
                    journalQueued(bio, .pushback, order: order, &state)
                    ending = .pushedBack
                case .fail:
                    // Not suspending here: a bio a stacked device got from another device's
                    // table is handed back to that device, whose own noflush suspend decides
                    // (``Errno/requeue``); any other fails.
                    ending = .endIO(bio.issuingDevice == nil ? .EIO : .requeue)
                }
            case .error(let errno):
                ending = .endIO(errno)
            case .ok:
                ending = .endIO(nil)
            }
            if case .endIO(let error) = ending, bio.aggregation.journaled {
                engine.journal.bioEnded(bio.id, device: state.name, error: error)
            }
            return (ending, drained)
        }
        if case .endIO(let error) = ending {
            if let error, error != .EIO || bio.aggregation.journaled {
                logger.debug("bio failed", metadata: ["bio": "\(bio.id)", "error": "\(error)"])
            }
            bioEndIO(bio, error)
        }
        // Last: this may drop the removed device's last reference to itself.
        drained?.resume()
    }

    /// What the last bio out of a closed gate hands on: the waiting suspend, and a removed
    /// device's reference to itself.
    struct Drained {
        var waiters: [WaiterList<Bool>.Continuation]
        var device: MappedDevice?

        func resume() { waiters.resumeAll(returning: true) }
    }

    /// If nothing is pending any more, takes the suspend waiters and the removed device's
    /// reference to itself. Caller holds the lock, and has just released a bio with the gate
    /// closed (``DeviceIOGate``).
    static func takeDrained(_ state: inout DeviceState) -> Drained? {
        guard state.gate.pendingCount == 0 else { return nil }
        defer { state.keepAliveWhileDraining = nil }
        return Drained(waiters: state.suspendWaiters.takeAll(), device: state.keepAliveWhileDraining)
    }

    /// Takes a bio out of `pending`; the last one out while the gate is closed wakes the
    /// waiting suspend (under the lock, and only if `pending` is still 0: see
    /// ``DeviceIOGate``).
    @inline(__always)
    func releasePending(shard: Int) {
        guard io.release(shard: shard) else { return }
        let drained = state.withLock { Self.takeDrained(&$0) }
        drained?.resume()
    }

    /// Ends `bio` with `error`, counting it in the device's ``statistics`` first (so that
    /// whoever learns of the end also sees it counted), with one clock reading for both.
    @inline(__always)
    func bioEndIO(_ bio: Bio, _ error: Errno?) {
        let now = MonotonicClock.now()
        statistics.endIOAcct(bio, error: error, endedAt: now)
        bio.endIO(error, endedAt: now)
    }

    /// A target reports it holds `clone` in its queue.
    func cloneQueued(_ clone: Clone) {
        state.withLock { state in
            let bio = clone.bio
            bio.aggregation.queuedClones += 1
            let first = bio.aggregation.queuedClones == 1
            let order = state.apply { $0.bioQueued(firstClone: first) }
            if first {
                countHeld(bio, true, &state)
                bio.setState(.queued)
            }
            journalQueued(bio, .targetQueue(clone.targetIndex), order: order, &state)
        }
    }

    /// A target reports `clone` left its queue.
    func cloneDequeued(_ clone: Clone) {
        state.withLock { state in
            let bio = clone.bio
            bio.aggregation.queuedClones -= 1
            if bio.aggregation.queuedClones == 0 {
                state.apply { $0.bioDequeued() }
                countHeld(bio, false, &state)
                bio.setState(.inflight)
            }
            engine.journal.bioDequeued(bio.id, device: state.name, location: .targetQueue(clone.targetIndex))
        }
    }

    /// Re-issues `deferred` in order through the live table, keeping new bios behind the old
    /// ones (``DeviceStateMachine/takeDeferred()``: `blockIO` stays set until a pass finds
    /// `deferred` empty, and is cleared in that locked step).
    func drainDeferred() {
        while true {
            let batch = state.withLock { state -> ([Bio], Table?)? in
                guard let (bios, table) = state.apply({ $0.takeDeferred() }) else { return nil }
                for bio in bios {
                    engine.journal.bioDequeued(bio.id, device: state.name, location: .deferred)
                    countHeld(bio, false, &state)
                    bio.setState(.inflight)
                }
                if table != nil {
                    let shard = io.acquire(bios.count)
                    for bio in bios { bio.shard = shard }
                }
                return (bios, table)
            }
            guard let (bios, table) = batch else { return }
            for bio in bios {
                if let table {
                    split(bio, through: table)
                } else {
                    bioEndIO(bio, .EIO)
                }
            }
        }
    }

    /// Ends held bios that left pushback and `deferred` with `errno` (forced removal).
    func endHeld(pushback: [Bio], deferred: [Bio], _ errno: Errno) {
        state.withLock { state in
            for bio in pushback {
                engine.journal.bioDequeued(bio.id, device: state.name, location: .pushback)
            }
            for bio in deferred {
                engine.journal.bioDequeued(bio.id, device: state.name, location: .deferred)
            }
            for bio in pushback + deferred {
                engine.journal.bioEnded(bio.id, device: state.name, error: errno)
                countHeld(bio, false, &state)
            }
        }
        for bio in pushback + deferred { bioEndIO(bio, errno) }
    }
}
