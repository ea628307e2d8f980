/// Start-up: rebuilding devices from persisted state.
extension DeviceManager {
    /// What a persisted device looked like.
    public struct DeviceRestore: Sendable {
        public var name: String
        public var uuid: String?
        public var readOnly: Bool
        public var suspended: Bool
        public var eventNr: UInt32
        public var live: [TableLine]
        public var inactive: [TableLine]
        public var targetStates: [Int: [String: String]]
        /// Bios that had not ended, in the order they go back into `deferred`.
        public var bios: [Bio]
        /// A noflush suspend was under way when the server stopped (bios were in pushback).
        public var noflushSuspendInProgress: Bool
        public var noPathRetry: NoPathRetry

        public init(
            name: String, uuid: String?, readOnly: Bool, suspended: Bool, eventNr: UInt32, live: [TableLine],
            inactive: [TableLine], targetStates: [Int: [String: String]], bios: [Bio],
            noflushSuspendInProgress: Bool = false, noPathRetry: NoPathRetry = .queue
        ) {
            self.noPathRetry = noPathRetry
            self.name = name
            self.uuid = uuid
            self.readOnly = readOnly
            self.suspended = suspended
            self.eventNr = eventNr
            self.live = live
            self.inactive = inactive
            self.targetStates = targetStates
            self.bios = bios
            self.noflushSuspendInProgress = noflushSuspendInProgress
        }
    }

    /// Re-creates a device: its live table goes straight into the live slot (no I/O), its
    /// recovered bios into `deferred` in order, its targets get their saved state, its
    /// inactive table is loaded; then, unless it was suspended, it is resumed, which re-issues
    /// the bios through the live table (a multipath target with no path queues them again).
    ///
    /// A table that no longer loads (a missing or shrunk backend) is reported, not fatal: the
    /// device then stays suspended without that table, holding its bios, until an operator
    /// loads a table and resumes. Returns the problems found.
    public func restoreDevice(_ restore: DeviceRestore) async throws -> [String] {
        var problems: [String] = []
        let device = try await createDevice(name: restore.name, uuid: restore.uuid, readOnly: restore.readOnly)
        device.restoreEventNr(restore.eventNr)
        device.restoreNoPathRetry(restore.noPathRetry)
        var live: Table?
        if !restore.live.isEmpty {
            do {
                live = try Table.build(
                    lines: restore.live, registry: engine.targetTypes, engine: engine, device: device,
                    resolver: resolver())
            } catch {
                problems.append("device '\(restore.name)': live table not restored: \(error)")
            }
        }
        let persisted: DeviceState.Machine.PersistedState =
            restore.suspended ? .suspended : restore.noflushSuspendInProgress ? .noflushSuspending : .active
        let activation = device.state.withLock { state in
            for bio in restore.bios {
                // The journal already holds the bio and its payload.
                bio.aggregation.journaled = true
                device.appendDeferred(bio, &state)
                // Durable as it stands: the journal's row says queued (its new order is being
                // written, but a crash before that commit finds the old row and recovers the
                // bio again). A client asking right after start-up must not read it as at risk.
                bio.markDurable(for: .deferred)
            }
            return state.apply { $0.restored(live: live, as: persisted) }
        }
        if let live {
            for (index, saved) in restore.targetStates where index < live.targets.count {
                live.targets[index].target.restore(saved)
            }
        }
        if !restore.inactive.isEmpty {
            do {
                try await device.load(restore.inactive, resolver: resolver())
            } catch {
                problems.append("device '\(restore.name)': inactive table not restored: \(error)")
            }
        }
        try await device.control.withLock {
            try await device.carryOut(activation, MappedDevice.Step())
        }
        return problems
    }
}
