import Foundation
import Logging
import MapperCore

/// What start-up recovery did.
public struct RecoveryReport: Sendable {
    /// Objects that did not come back, each naming the object and why; everything else did.
    public var problems: [String] = []
    public var backends = 0
    public var paths = 0
    public var devices = 0
    /// Bios put back into their devices.
    public var bios = 0
    /// Those bios, by device name (so a server can report them and match idempotency keys).
    public var recovered: [String: [Bio]] = [:]
    /// Queued reads failed with EIO (their readers are gone).
    public var lostReads = 0

    public init() {}
}

/// Start-up recovery: rebuilds the engine from the store (SEMANTICS §9).
///
/// Backends, paths (dm state and fault mode), devices (flags, both tables, target state,
/// `eventNr`) come back; every bio that had not ended goes back to its device in order (bios
/// found in pushback, from a suspend that never finished, are treated as an interrupted
/// suspend: back to `deferred` and re-issued). A missing backend file, a file that shrank or
/// a table that no longer loads is a problem in the report, never a crash; the objects that
/// are fine come up, and nothing in the store is deleted.
///
/// On a store shared by hosts, start-up rebuilds only the devices this host owns (`devices`),
/// and a claim (``restoreClaimed(device:store:into:dataDirectory:logger:)``) rebuilds one
/// more device later, with the backends and paths this host has not seen yet.
public enum StoreRecovery {
    /// Start-up: everything in the store, or of the devices only those named in `devices`.
    public static func recover(
        store: any DurableStore, into manager: DeviceManager, dataDirectory: URL, logger: Logger,
        devices: Set<String>? = nil
    ) async throws -> RecoveryReport {
        let snapshot = try await store.snapshot(recentEvents: 1000)
        await manager.engine.reserveBioIDs(through: try store.reserveBioIDs())
        manager.engine.events.preload(snapshot.recentEvents)
        store.isRecovering = true
        defer { store.isRecovering = false }
        return try await rebuild(
            snapshot, devices: devices, store: store, into: manager, dataDirectory: dataDirectory, logger: logger)
    }

    /// A claim: the device `device` as the store has it, with its journaled bios back where
    /// they were, plus the backends and paths this host does not have yet. Nothing the
    /// rebuild does is written back (``HostOwnership/setReplaying(_:)``); the bios' new
    /// places are journaled as usual.
    public static func restoreClaimed(
        device: String, store: any DurableStore, ownership: any HostOwnership, into manager: DeviceManager,
        dataDirectory: URL, logger: Logger
    ) async throws -> RecoveryReport {
        let full = try await store.snapshot(recentEvents: 0)
        let backends = full.backends.filter { (try? manager.backend(named: $0.name)) == nil }
        let paths = full.paths.filter { (try? manager.path(named: $0.name)) == nil }
        var snapshot = StoreSnapshot()
        snapshot.backends = backends
        snapshot.paths = paths
        snapshot.devices = full.devices.filter { $0.name == device }
        snapshot.bios = full.bios.filter { $0.device == device }
        guard !snapshot.devices.isEmpty else { throw MapperError(.ENOENT, "no device named '\(device)' in the store") }
        ownership.setReplaying(Set(backends.map(\.name) + paths.map(\.name) + [device]))
        defer { ownership.setReplaying([]) }
        return try await rebuild(
            snapshot, devices: [device], store: store, into: manager, dataDirectory: dataDirectory, logger: logger)
    }

    private static func rebuild(
        _ snapshot: StoreSnapshot, devices: Set<String>?, store: any DurableStore, into manager: DeviceManager,
        dataDirectory: URL, logger: Logger
    ) async throws -> RecoveryReport {
        var report = RecoveryReport()
        for record in snapshot.backends {
            guard case .file(let file) = record.source else {
                do {
                    let backend = try await manager.restoreBackend(
                        name: record.name, uri: record.source.uri ?? "", sizeSectors: record.sizeSectors)
                    if !(backend.transport.transportInfo.connected) {
                        report.problems.append(
                            "backend '\(record.name)': \(record.source.uri ?? "") not reachable yet; its paths start failed and their checkers reconnect them"
                        )
                    }
                    report.backends += 1
                } catch {
                    report.problems.append("backend '\(record.name)': \(error)")
                }
                continue
            }
            let url = dataDirectory.appendingPathComponent(file)
            do {
                let backend = try await manager.createBackend(name: record.name, file: file, url: url)
                if backend.sizeSectors < record.sizeSectors {
                    try await manager.removeBackend(named: record.name)
                    report.problems.append(
                        "backend '\(record.name)': file '\(file)' shrank from \(record.sizeSectors) to \(backend.sizeSectors) sectors; not brought up"
                    )
                    continue
                }
                report.backends += 1
            } catch {
                report.problems.append("backend '\(record.name)': \(error)")
            }
        }
        for record in snapshot.paths {
            do {
                let path = try await manager.createPath(
                    name: record.name, backend: record.backend, uri: record.uri, checker: record.checker,
                    connectNow: false, keepChecker: true)
                // A remote path that could not connect comes up failed; its checker reinstates it.
                let reachable = path.transport.transportInfo.connected
                path.restore(
                    active: record.active && reachable,
                    failCount: record.failCount + (record.active && !reachable ? 1 : 0))
                path.setFault(record.fault)
                report.paths += 1
            } catch {
                report.problems.append("path '\(record.name)': \(error)")
            }
        }
        let biosByDevice = Dictionary(grouping: snapshot.bios, by: \.device)
        var lost: [UInt64] = []
        for record in stackingOrder(snapshot.devices) where devices?.contains(record.name) ?? true {
            var bios: [Bio] = []
            for saved in biosByDevice[record.name] ?? [] {
                guard saved.op != .read else {
                    lost.append(saved.id)
                    continue
                }
                if saved.op == .write && saved.payload == nil {
                    report.problems.append("bio \(saved.id) on '\(record.name)': payload missing; failed with EIO")
                    lost.append(saved.id)
                    continue
                }
                bios.append(
                    Bio(
                        id: saved.id, op: saved.op, sector: saved.sector, sectors: saved.sectors,
                        buffer: saved.payload, idempotencyKey: saved.idempotencyKey,
                        submittedAt: saved.submittedAt))
            }
            do {
                let problems = try await manager.restoreDevice(
                    DeviceManager.DeviceRestore(
                        name: record.name, uuid: record.uuid, readOnly: record.readOnly, suspended: record.suspended,
                        eventNr: record.eventNr, live: try parse(record.live), inactive: try parse(record.inactive),
                        targetStates: record.targetStates, bios: bios,
                        noflushSuspendInProgress: (biosByDevice[record.name] ?? []).contains { $0.state == .pushback },
                        noPathRetry: record.noPathRetry))
                report.problems += problems
                report.devices += 1
                report.bios += bios.count
                report.recovered[record.name] = bios
            } catch {
                report.problems.append("device '\(record.name)': \(error)")
            }
        }
        report.lostReads = lost.count
        for device in manager.devices where device.noPathRetry != .queue && devices?.contains(device.name) ?? true {
            device.applyNoPathRetry()
        }
        try await store.markLost(lost)
        for problem in report.problems { logger.error("recovery problem", metadata: ["detail": "\(problem)"]) }
        return report
    }

    /// The devices with every device after the ones its tables map onto, otherwise in
    /// creation order: a device made later can be stacked under an older one (a move job's
    /// holder device under the device it moves).
    static func stackingOrder(_ devices: [StoreSnapshot.DeviceRecord]) -> [StoreSnapshot.DeviceRecord] {
        let names = Set(devices.map(\.name))
        var lower: [String: Set<String>] = [:]
        for record in devices {
            let words = (record.live + record.inactive).flatMap { $0.split(whereSeparator: \.isWhitespace) }
            lower[record.name] = Set(words.map(String.init).filter { names.contains($0) && $0 != record.name })
        }
        var ordered: [StoreSnapshot.DeviceRecord] = []
        var placed = Set<String>()
        var left = devices
        while !left.isEmpty {
            // The first device whose lower devices are all placed; a cycle (no table loads
            // one) keeps creation order.
            let index = left.firstIndex { lower[$0.name, default: []].isSubset(of: placed) } ?? 0
            let record = left.remove(at: index)
            placed.insert(record.name)
            ordered.append(record)
        }
        return ordered
    }

    private static func parse(_ lines: [String]) throws -> [TableLine] {
        lines.isEmpty ? [] : try TableParser.parse(lines.joined(separator: "\n"))
    }
}
