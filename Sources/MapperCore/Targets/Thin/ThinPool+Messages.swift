/// The pool's messages and status lines, as dm-thin's `pool_message` and `pool_status`.
extension ThinPool {
    /// `create_thin <id>`, `create_snap <id> <origin_id>`, `delete <id>`,
    /// `set_transaction_id <old> <new>`, `reserve_metadata_snap`, `release_metadata_snap`.
    /// The change is committed at once, as dm does; the reply does not wait for the commit
    /// (the next flush to any thin device, or ``commit()``, does).
    ///
    /// As in dm, a snapshot's origin must not be taking I/O: `create_snap` of an origin
    /// whose thin device is active and not suspended is EBUSY (in dm it would silently mix
    /// writes in flight into the snapshot), and `delete` of a thin device with a table is
    /// EBUSY.
    func message(_ argv: [String]) throws -> String {
        guard let verb = argv.first else { throw MapperError(.EINVAL, "empty message") }
        let arity = [
            "create_thin": 1, "create_snap": 2, "delete": 1, "set_transaction_id": 2, "reserve_metadata_snap": 0,
            "release_metadata_snap": 0,
        ]
        guard let count = arity[verb] else { throw MapperError(.EINVAL, "unknown thin-pool message '\(verb)'") }
        guard argv.count == count + 1 else {
            throw MapperError(.EINVAL, "'\(verb)' takes \(count) argument\(count == 1 ? "" : "s")")
        }
        let numbers = try argv.dropFirst().map { text in
            guard let value = UInt64(text) else { throw MapperError(.EINVAL, "invalid number '\(text)'") }
            return value
        }
        let thins = state.withLock { Array($0.thins.values) }
        let active = Set(thins.map(\.deviceID))
        let running = Set(thins.filter { !($0.context.device?.isSuspended ?? true) }.map(\.deviceID))
        try state.withLock { state in
            if let failure = state.failure { throw MapperError(.EIO, "the pool failed: \(failure)") }
            guard state.metadata != nil else { throw MapperError(.EAGAIN, "the pool's metadata is not open yet") }
            if state.arguments.readOnly { throw MapperError(.EROFS, "the pool is read_only") }
            switch verb {
            case "create_thin": try state.metadata?.createThin(numbers[0])
            case "create_snap":
                if running.contains(numbers[1]) {
                    throw MapperError(
                        .EBUSY, "thin device \(numbers[1]) is active: suspend it before taking a snapshot")
                }
                try state.metadata?.createSnapshot(numbers[0], of: numbers[1])
            case "delete":
                if active.contains(numbers[0]) {
                    throw MapperError(.EBUSY, "thin device \(numbers[0]) has a table: remove it first")
                }
                try state.metadata?.delete(numbers[0])
            case "set_transaction_id": try state.metadata?.setTransactionID(old: numbers[0], new: numbers[1])
            case "reserve_metadata_snap": try state.metadata?.reserveMetadataSnapshot()
            default: try state.metadata?.releaseMetadataSnapshot()
            }
        }
        requestCommit { _ in }
        return ""
    }

    /// dm's pool status: `<transaction_id> <used_meta>/<total_meta> <used_data>/<total_data>
    /// <held_root|-> rw|ro|out_of_data_space discard_passdown|no_discard_passdown|ignore_discard
    /// queue_if_no_space|error_if_no_space needs_check|- <meta_low_water>`, or `Fail`.
    func status() -> String {
        state.withLock { state in
            guard state.failure == nil else { return "Fail" }
            let arguments = state.arguments
            let metaBlocks = state.metadata?.meta.count ?? arguments.metadataBlocks
            let metaUsed = state.metadata?.meta.used ?? 0
            let dataBlocks = state.metadata?.data.count ?? arguments.dataBlocks
            let dataUsed = state.metadata?.data.used ?? 0
            let held = state.metadata?.heldRoot.map(String.init) ?? "-"
            let mode =
                arguments.readOnly
                ? "ro" : state.allocationFailed && dataUsed == dataBlocks ? "out_of_data_space" : "rw"
            let discard =
                arguments.ignoreDiscard
                ? "ignore_discard" : arguments.noDiscardPassdown ? "no_discard_passdown" : "discard_passdown"
            let space = arguments.errorIfNoSpace ? "error_if_no_space" : "queue_if_no_space"
            let lowWater = min(1024, metaBlocks / 4)
            return
                "\(state.metadata?.transactionID ?? 0) \(metaUsed)/\(metaBlocks) \(dataUsed)/\(dataBlocks) \(held) \(mode) \(discard) \(space) - \(lowWater)"
        }
    }

    /// A thin device's status: `<mapped_sectors> <highest_mapped_sector|->`, or `Fail`.
    func thinStatus(_ id: UInt64) -> String {
        state.withLock { state in
            guard state.failure == nil, let device = state.metadata?.devices[id] else {
                return state.failure == nil && state.metadata == nil ? "0 -" : "Fail"
            }
            let highest = state.metadata?.highestMapped(device: id).map { String(($0 + 1) * dataBlockSectors - 1) }
            return "\(device.mappedBlocks * dataBlockSectors) \(highest ?? "-")"
        }
    }

    /// The allocation of `sectors` sectors of thin device `id` from `sector` (relative to the
    /// device): mapped blocks are data, unmapped ones holes reading as zeroes.
    func allocation(device id: UInt64, sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent] {
        let end = sector + sectors
        let first = sector / dataBlockSectors
        let lastBlock = (end - 1) / dataBlockSectors
        let mapped = state.withLock { state in
            state.metadata?.mappedBlocks(
                device: id, from: first, limit: Int(min(lastBlock - first + 1, UInt64(max(limit, 1)) * 2))) ?? []
        }
        var extents: [AllocationExtent] = []
        var position = sector
        for block in mapped where block <= lastBlock {
            let start = max(block * dataBlockSectors, sector)
            if start > position { extents.appendMerging(.hole(start - position)) }
            let stop = min((block + 1) * dataBlockSectors, end)
            extents.appendMerging(.data(stop - start))
            position = stop
            if extents.count >= limit { return extents }
        }
        if position < end { extents.appendMerging(.hole(end - position)) }
        return extents
    }
}
