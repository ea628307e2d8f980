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

        public init(
            name: String, uuid: String?, readOnly: Bool, suspended: Bool, eventNr: UInt32, live: [TableLine],
            inactive: [TableLine], targetStates: [Int: [String: String]], bios: [Bio]
        ) {
            self.name = name
            self.uuid = uuid
            self.readOnly = readOnly
            self.suspended = suspended
            self.eventNr = eventNr
            self.live = live
            self.inactive = inactive
            self.targetStates = targetStates
            self.bios = bios
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
        var liveLoaded = false
        if !restore.live.isEmpty {
            do {
                let table = try Table.build(
                    lines: restore.live, registry: engine.targetTypes, engine: engine, device: device,
                    resolver: resolver())
                device.state.withLock { $0.live = table }
                for (index, saved) in restore.targetStates where index < table.targets.count {
                    table.targets[index].target.restore(saved)
                }
                liveLoaded = true
            } catch {
                problems.append("device '\(restore.name)': live table not restored: \(error)")
            }
        }
        device.state.withLock { state in
            for bio in restore.bios { appendRecovered(bio, device: device, &state) }
        }
        if !restore.inactive.isEmpty {
            do {
                try device.load(restore.inactive, resolver: resolver())
            } catch {
                problems.append("device '\(restore.name)': inactive table not restored: \(error)")
            }
        }
        if liveLoaded && !restore.suspended {
            do {
                if device.inactiveTable != nil {
                    // Resume would swap the staged table in; make the live one active first.
                    try await device.control.withLock { try await device.resumeActivating() }
                } else {
                    try await device.resume()
                }
            } catch {
                problems.append("device '\(restore.name)': not resumed: \(error)")
            }
        }
        return problems
    }

    private func appendRecovered(_ bio: Bio, device: MappedDevice, _ state: inout DeviceState) {
        // The journal already holds the bio and its payload.
        bio.aggregation.journaled = true
        device.appendDeferred(bio, &state)
    }
}

extension MappedDevice {
    /// Resumes the live table without swapping in the staged one (start-up only).
    func resumeActivating() async throws {
        guard let live = liveTable else { return }
        for instance in live.targets { instance.target.resume() }
        state.withLock { state in
            state.suspended = false
            state.blockIO = true
        }
        drainDeferred()
    }
}
