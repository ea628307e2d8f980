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
                try await device.load(restore.inactive, resolver: resolver())
            } catch {
                problems.append("device '\(restore.name)': inactive table not restored: \(error)")
            }
        }
        if liveLoaded && !restore.suspended {
            await device.control.withLock {
                device.activateRestored(runningResumeHooks: restore.noflushSuspendInProgress)
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
    /// Makes a restored device active again (start-up only), without swapping in a staged
    /// table. Recovered bios in `deferred` are re-issued through the live table.
    ///
    /// The targets' resume hooks do not run: the device was active when the server stopped,
    /// and its targets' restored run-time state is exactly what it was then. In particular a
    /// failed or interrupted suspend's presuspend stays in force (multipath's
    /// `queue_if_no_path` stays off, SEMANTICS §4), as it would have without the restart.
    ///
    /// The one exception is a noflush suspend that was still under way (bios in pushback):
    /// it never finished, and its pushed-back bios were promised to be held, so it is ended
    /// as a noflush suspend followed by a resume would end it (`runningResumeHooks`): the
    /// hooks restore `queue_if_no_path` and the pushed-back bios queue again rather than fail.
    func activateRestored(runningResumeHooks: Bool) {
        guard let live = liveTable else { return }
        activate(live, runningResumeHooks: runningResumeHooks)
    }
}
