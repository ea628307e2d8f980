import Foundation
import MapperCore
import MapperNBD
import MapperStore
import MapperVersion

/// The engine's metrics, read at scrape time from counters the engine keeps anyway (device
/// ``IOStatistics``, ``DeviceInfo``, ``PathInfo``, the store's ``StoreStatistics``, the NBD
/// server): the I/O path never looks up a metric or a label. Names follow node_exporter's
/// diskstats (`node_disk_*` → `mapperd_disk_*`, label `device`) where they fit.
enum EngineMetrics {
    static func render(_ runtime: MapperRuntime) -> String {
        var out = PrometheusText()
        out.family("mapperd_build_info", .gauge, "The server's version (always 1).")
        out.sample("mapperd_build_info", [("version", MapperdVersion.string)], 1.0)
        devices(runtime.manager.devices.map { ($0.info, $0.statistics) }, into: &out)
        paths(runtime.manager.paths.map(\.info), into: &out)
        journal(runtime.store.statistics, into: &out)
        jobs(runtime.jobs.jobs, into: &out)
        if let nbd = runtime.nbd { self.nbd(nbd, into: &out) }
        return out.text
    }

    private typealias DeviceSample = (info: DeviceInfo, statistics: IOStatistics)

    private static func devices(_ devices: [DeviceSample], into out: inout PrometheusText) {
        func counter(_ name: String, _ help: String, _ value: (DeviceSample) -> Double) {
            out.family(name, .counter, help)
            for device in devices { out.sample(name, [("device", device.info.name)], value(device)) }
        }
        func gauge(_ name: String, _ help: String, _ value: (DeviceSample) -> Double) {
            out.family(name, .gauge, help)
            for device in devices { out.sample(name, [("device", device.info.name)], value(device)) }
        }
        func completed(_ direction: IOStatistics.Direction) -> Double {
            Double(direction.latency.snapshot.count - direction.failed)
        }
        func seconds(_ direction: IOStatistics.Direction) -> Double { Double(direction.latency.snapshot.sum) / 1e9 }

        counter("mapperd_disk_reads_completed_total", "Reads completed without an error.") { completed($0.statistics.reads) }
        counter("mapperd_disk_writes_completed_total", "Writes completed without an error.") { completed($0.statistics.writes) }
        counter("mapperd_disk_read_bytes_total", "Bytes read by completed reads.") { Double($0.statistics.reads.bytes) }
        counter("mapperd_disk_written_bytes_total", "Bytes written by completed writes.") {
            Double($0.statistics.writes.bytes)
        }
        counter("mapperd_disk_read_time_seconds_total", "Time spent by all reads, from submission to end.") {
            seconds($0.statistics.reads)
        }
        counter("mapperd_disk_write_time_seconds_total", "Time spent by all writes, from submission to end.") {
            seconds($0.statistics.writes)
        }
        counter("mapperd_disk_flush_requests_total", "Flushes completed without an error.") {
            completed($0.statistics.flushes)
        }
        counter("mapperd_disk_flush_requests_time_seconds_total", "Time spent by all flushes.") {
            seconds($0.statistics.flushes)
        }
        counter("mapperd_disk_discards_completed_total", "Discards completed without an error.") {
            completed($0.statistics.discards)
        }
        counter("mapperd_disk_discarded_sectors_total", "Sectors discarded by completed discards.") {
            Double($0.statistics.discards.bytes >> 9)
        }
        counter("mapperd_disk_discard_time_seconds_total", "Time spent by all discards.") {
            seconds($0.statistics.discards)
        }
        gauge("mapperd_disk_io_now", "Bios in the device now: issued to targets, queued, pushed back or deferred.") {
            let io = $0.info.io
            return Double(io.inFlight + io.queued + io.pushback + io.deferred)
        }
        out.family("mapperd_disk_io_failed_total", .counter, "Bios that ended with an error, by op.")
        for device in devices {
            for op in BioOp.allCases {
                out.sample(
                    "mapperd_disk_io_failed_total", [("device", device.info.name), ("op", op.rawValue)],
                    device.statistics.direction(op).failed)
            }
        }
        out.family(
            "mapperd_disk_io_duration_seconds", .histogram,
            "Latency of ended bios, from submission to end (a held bio counts its whole wait), by op.")
        for device in devices {
            for op in BioOp.allCases {
                out.histogram(
                    "mapperd_disk_io_duration_seconds", [("device", device.info.name), ("op", op.rawValue)],
                    device.statistics.direction(op).latency.snapshot, scale: 1e9)
            }
        }
        out.family(
            "mapperd_device_held_bios", .gauge,
            "Bios the device holds, by location: a target's queue, pushback (noflush suspend), deferred (suspended).")
        for device in devices {
            let io = device.info.io
            for (location, count) in [("target", io.queued), ("pushback", io.pushback), ("deferred", io.deferred)] {
                out.sample("mapperd_device_held_bios", [("device", device.info.name), ("location", location)], Double(count))
            }
        }
        gauge("mapperd_device_held_bytes", "Bytes of the bios the device holds (the queue limits' measure).") {
            Double($0.info.io.heldBytes)
        }
        counter("mapperd_device_refused_total", "New bios refused with EAGAIN by the queue limits.") {
            Double($0.info.io.refused)
        }
        gauge("mapperd_device_suspended", "1 while the device is suspended, else 0.") { $0.info.suspended ? 1 : 0 }
        gauge("mapperd_device_event_number", "The device's event number (dmsetup's Event number).") {
            Double($0.info.eventNr)
        }
        gauge("mapperd_device_open_count", "Holders of the device: NBD connections and stacked devices.") {
            Double($0.info.openCount)
        }
    }

    private static func paths(_ paths: [PathInfo], into out: inout PrometheusText) {
        out.family("mapperd_path_up", .gauge, "1 while the path is active, 0 while it is failed.")
        for path in paths { out.sample("mapperd_path_up", [("path", path.name)], path.active ? 1.0 : 0.0) }
        out.family("mapperd_path_failures_total", .counter, "Times the path was failed (dm's fail_count).")
        for path in paths { out.sample("mapperd_path_failures_total", [("path", path.name)], Double(path.failCount)) }
        let checked = paths.compactMap { path in path.lastCheck.map { (path.name, $0) } }
        out.family("mapperd_path_checker_up", .gauge, "The path checker's last result: 1 passed, 0 failed.")
        for (name, check) in checked { out.sample("mapperd_path_checker_up", [("path", name)], check.passed ? 1.0 : 0.0) }
        out.family("mapperd_path_checker_last_check_timestamp_seconds", .gauge, "When the last check ended.")
        for (name, check) in checked {
            out.sample(
                "mapperd_path_checker_last_check_timestamp_seconds", [("path", name)], check.at.timeIntervalSince1970)
        }
        out.family("mapperd_path_checker_duration_seconds", .gauge, "How long the last check took.")
        for (name, check) in checked {
            let parts = check.duration.components
            out.sample(
                "mapperd_path_checker_duration_seconds", [("path", name)],
                Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
        }
    }

    /// Move jobs: bytes in sync and in all, the measured rate, and the phase as a one-hot gauge
    /// (label `phase`), per job (labels `job`, `device`).
    private static func jobs(_ jobs: [MoveJob], into out: inout PrometheusText) {
        func gauge(_ name: String, _ help: String, _ value: (MoveJob) -> Double) {
            out.family(name, .gauge, help)
            for job in jobs { out.sample(name, [("job", job.id), ("device", job.device)], value(job)) }
        }
        gauge("mapperd_job_copied_bytes", "Bytes the move job has in sync on both sides.") { Double($0.copiedBytes) }
        gauge("mapperd_job_total_bytes", "Bytes the move job copies in all.") { Double($0.totalBytes) }
        gauge("mapperd_job_bytes_per_second", "The move job's copy rate, measured lately.") { Double($0.bytesPerSecond) }
        out.family("mapperd_job_phase", .gauge, "1 for the move job's phase, 0 for the others.")
        for job in jobs {
            for phase in MoveJobMachine.Phase.allCases {
                out.sample(
                    "mapperd_job_phase", [("job", job.id), ("device", job.device), ("phase", phase.rawValue)],
                    job.machine.phase == phase ? 1.0 : 0.0)
            }
        }
    }

    private static func journal(_ statistics: StoreStatistics, into out: inout PrometheusText) {
        let items = statistics.itemsPerCommit.snapshot
        out.family("mapperd_journal_commits_total", .counter, "Store transactions committed (group commits).")
        out.sample("mapperd_journal_commits_total", [], items.count)
        out.family("mapperd_journal_commit_failures_total", .counter, "Store transactions that failed as a whole.")
        out.sample("mapperd_journal_commit_failures_total", [], statistics.failedCommits)
        out.family(
            "mapperd_journal_items_per_commit", .histogram,
            "Items (bio journal entries and state changes) that shared one commit.")
        out.histogram("mapperd_journal_items_per_commit", [], items)
        out.family("mapperd_journal_commit_duration_seconds", .histogram, "Duration of a commit, fsync included.")
        out.histogram("mapperd_journal_commit_duration_seconds", [], statistics.commitLatency.snapshot, scale: 1e9)
    }

    private static func nbd(_ server: NBDServer, into out: inout PrometheusText) {
        let connections = server.connections
        out.family("mapperd_nbd_connections", .gauge, "Open NBD connections, by export (\"\" during the handshake).")
        var byExport: [String: Int] = [:]
        for connection in connections { byExport[connection.export ?? "", default: 0] += 1 }
        for (export, count) in byExport.sorted(by: { $0.key < $1.key }) {
            out.sample("mapperd_nbd_connections", [("export", export)], Double(count))
        }
        out.family("mapperd_nbd_connections_accepted_total", .counter, "NBD connections accepted since start.")
        out.sample("mapperd_nbd_connections_accepted_total", [], server.acceptedConnections)
        out.family("mapperd_nbd_requests_in_flight", .gauge, "NBD requests read and not yet answered, all connections.")
        out.sample("mapperd_nbd_requests_in_flight", [], Double(connections.reduce(0) { $0 + $1.inFlight }))
    }
}
