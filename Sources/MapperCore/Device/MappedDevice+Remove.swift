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
            let live = try state.withLock { state -> Table? in
                if state.removed { throw MapperError(.ENODEV, "device was removed") }
                if tableOpens > 0 {
                    throw MapperError(.EBUSY, "device '\(state.name)' is open (\(tableOpens)) by another table")
                }
                if externalOpens > 0 && !force {
                    throw MapperError(
                        .EBUSY, "device '\(state.name)' is open by \(externalOpens) client(s) (NBD); use force")
                }
                let busy =
                    state.pending > 0 || !state.deferred.isEmpty || !state.pushback.isEmpty
                    || state.suspending
                if busy && !force {
                    throw MapperError(
                        .EBUSY,
                        "device '\(state.name)' has I/O in flight or queued (\(state.pending) pending, \(state.deferred.count) deferred); use force"
                    )
                }
                state.removed = true
                state.blockIO = true
                if state.pending > 0 { state.keepAliveWhileDraining = self }
                return state.live
            }
            if force { holders.revokeExternal() }
            failHeldBios(.EIO)
            if force {
                for instance in live?.targets ?? [] { instance.target.presuspend() }
            }
            let (tables, waiters) = state.withLock { state in
                defer {
                    state.live = nil
                    state.inactive = nil
                }
                return ([state.live, state.inactive].compactMap { $0 }, state.eventWaiters.takeAll())
            }
            for table in tables { table.destroy(holder: self) }
            let number = eventNr
            for waiter in waiters { waiter.resume(returning: number) }
        }
    }
}
