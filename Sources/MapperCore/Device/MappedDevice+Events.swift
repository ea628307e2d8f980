/// `eventNr` and its waiters (dm's `dm_table_event` / `dmsetup wait`).
extension MappedDevice {
    /// Bumps `eventNr`, wakes waiters and logs an engine event.
    public func triggerEvent(kind: EngineEvent.Kind, path: String? = nil, detail: String = "") {
        let (name, number, waiters) = state.withLock { state in
            state.eventNr &+= 1
            return (state.name, state.eventNr, state.eventWaiters.takeAll())
        }
        for waiter in waiters { waiter.resume(returning: number) }
        engine.events.append(kind: kind, device: name, path: path, detail: detail)
        persist(.deviceChanged(info))
    }

    /// Returns `eventNr` at once when it differs from `after`; otherwise waits until it changes
    /// or `timeout` passes (then returns the unchanged number).
    public func waitEvent(after: UInt32, timeout: Duration) async -> UInt32 {
        let changed = await WaiterList<UInt32>.wait(
            timeout: timeout,
            register: { continuation in
                state.withLock { state -> WaiterList<UInt32>.Registration in
                    if state.eventNr != after || state.removed { return .ready(state.eventNr) }
                    return state.eventWaiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.eventWaiters.remove(id) } })
        return changed ?? eventNr
    }

    /// Renames the device (namespace checks are the caller's). Bumps `eventNr`.
    func setName(_ newName: String) {
        let old = state.withLock { state -> String in
            defer { state.name = newName }
            return state.name
        }
        engine.journal.deviceRenamed(from: old, to: newName)
        triggerEvent(kind: .deviceRenamed, detail: "\(old) -> \(newName)")
    }

    /// Sets the uuid once (EINVAL if already set to another value).
    func setUUID(_ uuid: String) throws {
        try state.withLock { state in
            if let current = state.uuid, current != uuid {
                throw MapperError(.EINVAL, "uuid is already set")
            }
            state.uuid = uuid
        }
    }
}

extension MappedDevice {
    /// Restores a persisted `eventNr` (start-up only; wakes no one).
    public func restoreEventNr(_ number: UInt32) {
        state.withLock { $0.eventNr = number }
    }
}
