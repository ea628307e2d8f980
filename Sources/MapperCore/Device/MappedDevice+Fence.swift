/// Fencing (a host that may no longer be the device's owner holds its I/O).
extension MappedDevice {
    /// Holds every new bio in `deferred` (journaled as deferred, never failed) until
    /// ``unfence()``; bios already issued run to their end. Idempotent.
    public func fence() {
        state.withLock { state in state.apply { $0.fence() } }
    }

    /// Lifts the fence: an active device re-issues what waited, in order.
    public func unfence() {
        let actions = state.withLock { state in state.apply { $0.unfence() } }
        for action in actions {
            if case .reissueDeferred = action { drainDeferred() }
        }
    }

    /// Whether the device holds its I/O for a fence.
    public var isFenced: Bool { state.withLock { $0.machine.fenced } }
}
