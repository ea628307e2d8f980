import Foundation
import MapperAPI
import MapperCore
import MapperStore

/// Engine values in their API form.
enum DTO {
    static func backend(_ info: BackendInfo) -> Components.Schemas.Backend {
        .init(
            name: info.name, kind: info.source.file == nil ? .nbd : .file, file: info.source.file,
            uri: info.source.uri, connected: info.connected, sizeBytes: Int64(info.sizeBytes),
            sizeSectors: Int64(info.sizeSectors), usedBy: info.usedBy)
    }

    static func fault(_ mode: FaultMode) -> Components.Schemas.Fault {
        .init(mode: .init(rawValue: mode.name) ?? .none, delayMs: mode.delayMs)
    }

    static func path(_ info: PathInfo) -> Components.Schemas.Path {
        .init(
            name: info.name, backend: info.backend, state: info.active ? .active : .failed,
            failCount: info.failCount, fault: fault(info.fault), usedBy: info.usedBy,
            transport: .init(
                kind: info.transport.kind == "nbd" ? .nbd : .file, uri: info.transport.uri,
                connected: info.transport.connected),
            checker: info.checker.map { .init(intervalMs: $0.intervalMs, timeoutMs: $0.timeoutMs) },
            lastCheck: info.lastCheck.map {
                .init(
                    result: $0.passed ? .passed : .failed, error: $0.error?.name, at: $0.at,
                    durationMs: Int64($0.duration / .milliseconds(1)))
            })
    }

    static func device(_ info: DeviceInfo) -> Components.Schemas.Device {
        .init(
            name: info.name, uuid: info.uuid, state: info.suspended ? .suspended : .active,
            suspending: info.suspending, readOnly: info.readOnly, sizeSectors: Int64(info.sizeSectors),
            eventNr: Int64(info.eventNr), openCount: info.openCount, targetCount: info.targetCount,
            tables: .init(live: info.hasLiveTable, inactive: info.hasInactiveTable),
            noPathRetry: noPathRetry(info.noPathRetry),
            io: .init(
                inFlight: info.io.inFlight, queued: info.io.queued, pushback: info.io.pushback,
                deferred: info.io.deferred, heldBytes: Int64(info.io.heldBytes), refused: Int64(info.io.refused)))
    }

    static func noPathRetry(_ policy: NoPathRetry) -> Components.Schemas.NoPathRetry {
        switch policy {
        case .queue: return .case1(.queue)
        case .fail: return .case1(.fail)
        case .retries(let count): return .case2(count)
        }
    }

    static func noPathRetry(_ value: Components.Schemas.NoPathRetry) throws -> NoPathRetry {
        switch value {
        case .case1(let name): return try NoPathRetry(name.rawValue)
        case .case2(let count): return try NoPathRetry(String(count))
        }
    }

    static func table(_ table: Table) -> Components.Schemas.Table {
        .init(
            targets: table.lines.map {
                // The spec's enum lists exactly the server's target types (a test checks it).
                .init(
                    start: Int64($0.start), length: Int64($0.length), _type: .init(rawValue: $0.type) ?? .error,
                    args: $0.argsText)
            },
            text: table.text)
    }

    /// The table lines of a request: `text`, or `targets` (not both, not neither).
    static func lines(_ table: Components.Schemas.Table) throws -> [TableLine] {
        switch (table.text, table.targets) {
        case (let text?, nil):
            return try TableParser.parse(text)
        case (nil, let targets?):
            var lines: [TableLine] = []
            for (index, target) in targets.enumerated() {
                guard target.start >= 0, target.length >= 0 else {
                    throw MapperError(.EINVAL, "target \(index + 1): start and length must not be negative")
                }
                lines.append(
                    TableLine(
                        start: UInt64(target.start), length: UInt64(target.length), type: target._type.rawValue,
                        argsText: target.args ?? "", lineNumber: index + 1))
            }
            try TableParser.validateLayout(lines)
            return lines
        default:
            throw MapperError(.EINVAL, "give exactly one of 'text' or 'targets'")
        }
    }

    static func status(_ table: Table) -> Components.Schemas.Status {
        .init(
            targets: table.targets.map { instance in
                var multipath: Components.Schemas.MultipathStatus?
                if let target = instance.target as? MultipathTarget {
                    let status = target.structuredStatus
                    multipath = .init(
                        queueIfNoPath: status.queueIfNoPath, queueSize: status.queueSize,
                        currentGroup: status.currentGroup,
                        pathGroups: status.groups.map { group in
                            .init(
                                number: group.number, state: .init(rawValue: group.state) ?? .enabled,
                                selector: group.selector,
                                paths: group.paths.map {
                                    .init(name: $0.name, state: $0.active ? .active : .failed, failCount: $0.failCount)
                                })
                        })
                }
                return .init(
                    start: Int64(instance.start), length: Int64(instance.length), _type: instance.type,
                    status: instance.target.status(), multipath: multipath)
            })
    }

    static func bio(_ bio: Bio, device: String) -> Components.Schemas.Bio {
        self.bio(BioSummary(bio), device: device)
    }

    /// A bio the server holds in memory: its state as ``BioSummary/reportedState`` (a queue
    /// state only once the journal committed it).
    static func bio(_ bio: BioSummary, device: String) -> Components.Schemas.Bio {
        .init(
            id: String(bio.id), device: device, op: .init(rawValue: bio.op.rawValue) ?? .write,
            offset: Int64(bio.sector << 9), length: Int64(bio.sectors << 9),
            state: .init(rawValue: bio.reportedState.rawValue) ?? .inflight, durable: bio.durable,
            error: bio.error?.name, idempotencyKey: bio.idempotencyKey, submittedAt: bio.submittedAt,
            completedAt: bio.completedAt)
    }

    /// A bio read from the journal: a row in a queue state is committed, so durable.
    static func bio(_ stored: StoredBio) -> Components.Schemas.Bio {
        .init(
            id: String(stored.id), device: stored.device, op: .init(rawValue: stored.op.rawValue) ?? .write,
            offset: Int64(stored.sector << 9), length: Int64(stored.sectors << 9),
            state: .init(rawValue: stored.state.rawValue) ?? .inflight, durable: stored.state.isQueued,
            error: stored.error?.name, idempotencyKey: stored.idempotencyKey, submittedAt: stored.submittedAt,
            completedAt: stored.completedAt)
    }

    static func job(_ job: MoveJob) -> Components.Schemas.Job {
        .init(
            id: job.id, _type: .move, device: job.device, from: job.from, to: job.to,
            toOffsetSectors: Int64(job.toOffset), regionSizeSectors: Int64(job.regionSize),
            phase: .init(rawValue: job.machine.phase.rawValue) ?? .failed, paused: job.machine.paused,
            copiedBytes: Int64(clamping: job.copiedBytes), totalBytes: Int64(clamping: job.totalBytes),
            bytesPerSecond: Int64(clamping: job.bytesPerSecond), maxBytesPerSecond: Int64(clamping: job.machine.rate),
            etaSeconds: job.etaSeconds.map { Int64(clamping: $0) }, started: job.started, updated: job.updated,
            error: job.machine.error)
    }

    static func event(_ event: EngineEvent) -> Components.Schemas.Event {
        .init(
            seq: Int64(event.seq), at: event.at, kind: event.kind.rawValue, device: event.device, path: event.path,
            detail: event.detail)
    }
}
