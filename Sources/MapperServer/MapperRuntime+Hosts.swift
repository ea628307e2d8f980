import Foundation
import MapperCore
import MapperStore

/// Hosts and claims on a shared store.
extension MapperRuntime {
    /// Claims `name` for this host (``HostOwnership/claim(device:)``: EBUSY while its owner's
    /// lease plus grace has not run out), rebuilds it from the store with its journaled bios
    /// back where they were and its move jobs going on, and serves it (over NBD too). A device
    /// this host serves already is returned as it is (on the SQLite store every device is this
    /// host's; an unknown name is ENOENT).
    @discardableResult
    public func claim(device name: String) async throws -> (device: MappedDevice, report: RecoveryReport) {
        if let device = try? manager.device(named: name) { return (device, RecoveryReport()) }
        guard let ownership = store.ownership else {
            // The SQLite store is this host's alone: every device it has is served here.
            throw MapperError(.ENOENT, "no device named '\(name)'")
        }
        let epoch = try await ownership.claim(device: name)
        let report = try await StoreRecovery.restoreClaimed(
            device: name, store: store, ownership: ownership, into: manager, dataDirectory: configuration.dataDirectory,
            logger: logger)
        let device = try manager.device(named: name)
        if leaseKeeper?.isFenced == true { device.fence() }
        for bio in report.recovered[name] ?? [] { _ = bios.register(bio, device: device) }
        // A move the former owner left unfinished goes on here from its phase (its mirrors'
        // region state was in memory there: resync starts over). The device is this host's
        // by now, so a store that cannot list the jobs fails not the claim; the error is logged.
        do {
            jobs.restore(try await store.moveJobs().filter { $0.device == name })
        } catch {
            logger.error(
                "move jobs of a claimed device not restored", metadata: ["device": "\(name)", "error": "\(error)"])
        }
        manager.engine.events.append(
            kind: .deviceCreated, device: name, detail: "claimed by host \(ownership.hostID) at epoch \(epoch)")
        logger.notice(
            "device claimed",
            metadata: [
                "device": "\(name)", "epoch": "\(epoch)", "bios": "\(report.bios)",
                "problems": "\(report.problems.count)",
            ])
        return (device, report)
    }

    /// Claims every device of hosts whose lease ran out plus the grace (`--takeover auto`).
    /// One scan at a time: a scan that finds one running returns at once.
    func claimExpired() async {
        let started = takeoverScan.withLock { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard started else { return }
        defer { takeoverScan.withLock { $0 = false } }
        guard let ownership = store.ownership, let hosts = try? await ownership.hosts() else { return }
        for host in hosts where host.id != ownership.hostID && host.claimable {
            for device in host.devices.keys.sorted() {
                do {
                    try await claim(device: device)
                } catch {
                    logger.warning(
                        "automatic takeover failed", metadata: ["device": "\(device)", "error": "\(error)"])
                }
            }
        }
    }

    /// Every host sharing the store, or this one alone on the SQLite store.
    public func hosts() async throws -> [HostRecord] {
        if let ownership = store.ownership {
            // The database may be out of reach (this host then fences itself): answer within
            // a renewal interval either way.
            let timeout = ownership.timing.renewEvery
            let fenced = leaseKeeper?.isFenced ?? false
            let answer = await withTaskGroup(of: Result<[HostRecord], any Error>?.self) { group in
                group.addTask {
                    do { return .success(try await ownership.hosts()) } catch { return .failure(error) }
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                if first == nil { ownership.abandonReads() }
                group.cancelAll()
                return first
            }
            switch answer {
            case .success(let hosts): return hosts
            case .failure(let error): throw error
            case nil:
                throw MapperError(
                    .ETIMEDOUT,
                    "the store did not answer within \(timeout)"
                        + (fenced ? "; this host's lease may have run out: I/O is held" : ""))
            }
        }
        let now = Date()
        return [
            HostRecord(
                id: configuration.hostID, leaseMs: 0, leaseExpiresAt: now, renewedAt: now, startedAt: now,
                expired: false, claimable: false,
                devices: Dictionary(uniqueKeysWithValues: manager.devices.map { ($0.name, Int64(1)) }))
        ]
    }
}
