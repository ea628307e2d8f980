/// Removal (SEMANTICS §3 remove).
extension MappedDevice {
    /// Prepares removal: EBUSY while another device's table uses it; EBUSY while opened from
    /// outside (an NBD client), or while bios are in flight, queued, pushed back or deferred,
    /// or a suspend runs, unless `force`.
    /// With `force`: outside opens are revoked (their connections closed), bios in `deferred`
    /// and `pushback` fail with EIO, the live targets'
    /// presuspend hooks run without noflush (so queues are dispatched and fail with EIO),
    /// I/O still in flight finishes on its own. Then both tables are dropped. Takes the control
    /// lock itself; the name is the manager's to free.
    func tearDown(force: Bool) async throws {
        try await control.withLock {
            let tableOpens = holders.tableOpenCount
            let externalOpens = holders.externalOpenCount
            let actions = try state.withLock { state -> [DeviceState.Machine.Action] in
                let pending = state.pending
                let actions: [DeviceState.Machine.Action]
                do {
                    actions = try state.apply {
                        try $0.remove(
                            force: force, pending: pending, tableOpens: tableOpens, externalOpens: externalOpens)
                    }
                } catch let error as MapperError {
                    throw MapperError(error.errno, "device '\(state.name)': \(error.message)")
                }
                // In this locked step: the last bio out must find the reference to drop.
                if actions.contains(where: { if case .keepAliveUntilDrained = $0 { true } else { false } }) {
                    state.keepAliveWhileDraining = self
                }
                return actions
            }
            try await carryOut(actions, Step())
        }
    }
}
