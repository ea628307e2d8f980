import Foundation
import Logging
import MapperCore
import MapperNBD
import ServiceLifecycle
import Synchronization

/// `mapperd-bench move`: move jobs, started as the REST handler starts them (``JobManager``),
/// on a 1 GiB linear device between two file backends.
///
/// - `move.resync.*`: the time from the job's start to its end (mirror, resync, swap to the
///   destination, which is flushed first) against `dd bs=1M conv=fsync` copying the same
///   file to the same destination in the same run; the ratio is dd's time over the move's
///   (≥ 0.8 is the goal). Best of three each.
/// - `move.foreground.*`: fio's nbd engine, 4 KiB randwrite at QD16 through mapperd's export
///   of the device, alone and while the device is moved back and forth without a limit and at
///   50 MiB/s (over the length of one whole move at that rate); the ratios are the IOPS during
///   the moves over the IOPS alone in a window of the same length, measured in the same round
///   (≥ 0.5 unlimited, ≥ 0.9 at 50 MiB/s are the goals). Best of three each; `rounds` lists
///   every window's IOPS in order. Needs `fio`.
/// - `move.mirror.insync.*`: the same writes on a mirror in sync against a linear device
///   (``mirrorInSync(manager:directory:socket:medium:fio:size:)``). Needs `fio`.
/// - `move.peer.qemu-mirror.*`: the same writes, windows and throttle against qemu's
///   `blockdev-mirror` in its two copy modes (``qemuMirror(directory:medium:fio:size:)``).
///   Needs `fio` and `qemu-storage-daemon`.
struct MoveBench {
    let options: BenchOptions

    func run() async throws {
        guard let dd = HTTPBench.which("dd") else { throw MapperError(.ENOENT, "dd is needed") }
        for base in options.directories {
            try await run(in: URL(fileURLWithPath: base), dd: dd, fio: HTTPBench.which("fio"))
        }
    }

    private func run(in base: URL, dd: String, fio: String?) async throws {
        let directory = base.appendingPathComponent("mapperd-bench-move-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let medium = base.path.hasPrefix("/dev/shm") ? "shm" : "disk"
        let size: UInt64 = 1 << 30
        let source = directory.appendingPathComponent("a.img")
        let destination = directory.appendingPathComponent("b.img")
        try Self.fill(source, size: size, byte: 0x5a)
        try Self.fill(destination, size: size, byte: 0)

        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let manager = DeviceManager(engine: EngineServices(logger: logger))
        try await manager.createBackend(name: "a", file: "a.img", url: source)
        try await manager.createBackend(name: "b", file: "b.img", url: destination)
        try await manager.createDevice(name: "d", table: TableParser.parse("0 \(size >> 9) linear a 0"))
        let jobs = JobManager(manager: manager, logs: Self.logs(in: directory, manager: manager))
        let socket = directory.appendingPathComponent("mapperd.sock").path
        let nbd = try NBDServer(
            configuration: NBDConfiguration(port: nil, socketPath: socket), manager: manager, logger: logger)
        let group = ServiceGroup(services: [jobs, nbd], logger: logger)
        let running = Task { try await group.run() }
        _ = await nbd.listening()
        defer {
            Task { await group.triggerGracefulShutdown() }
        }
        let moves = Mover(jobs: jobs, manager: manager)

        // Resync throughput: the move against dd, interleaved, best of three.
        if options.filter.map({ "move.resync.1g.\(medium)".contains($0) }) ?? true {
            var best = Double.infinity
            var baseline = Double.infinity
            for _ in 0..<3 {
                best = min(best, try await moves.once(rate: 0))
                let start = ContinuousClock.now
                try NBDBench.runTool(
                    dd, ["if=\(source.path)", "of=\(destination.path)", "bs=1M", "conv=fsync,notrunc", "status=none"])
                baseline = min(baseline, Self.seconds(ContinuousClock.now - start))
            }
            BenchReport.emit([
                ("bench", "move.resync.1g.\(medium)"), ("seconds", best), ("mibPerSec", 1024 / best),
                ("baselineSeconds", baseline), ("baselineMibPerSec", 1024 / baseline), ("baseline", "dd conv=fsync"),
                ("ratio", baseline / best),
            ])
            // dd left the destination cached in large folios: the cases after start from disk.
            try Self.dropCache(source)
            try Self.dropCache(destination)
        }

        // Foreground randwrite through NBD, alone and under moves.
        if let fio, options.filter.map({ "move.foreground.randwrite.4k.qd16.\(medium)".contains($0) }) ?? true {
            let uri = "nbd+unix:///d?socket=\(socket)"
            let seconds = windowSeconds
            let limitedRate = Self.limitedRate
            let limitedSeconds = limitedWindowSeconds(size: size)
            // Each figure during a move is set against fio alone over a window of the same
            // length, in the same round: the best of three short windows is higher than the
            // best of three long ones on a busy machine, whatever runs on it.
            var alone = 0.0
            var aloneWhole = 0.0
            var unlimited = 0.0
            var limited = 0.0
            let fioRun = { @Sendable (seconds: Int) throws -> Double in
                try NBDBench.fio(fio, uri: uri, rw: "randwrite", depth: 16, jobs: 1, seconds: seconds, size: size).iops
            }
            // Every window's IOPS, in order, and the backend the device was on when it began:
            // the spread between rounds is as wide as the effects looked for.
            var rounds: [String] = []
            func window(_ iops: Double) -> Double {
                rounds.append("\(Int(iops))")
                return iops
            }
            for _ in 0..<3 {
                rounds.append(moves.onA ? "a" : "b")
                alone = max(alone, window(try fioRun(seconds)))
                unlimited = max(unlimited, window(try await moves.during(rate: 0) { try fioRun(seconds) }))
                rounds.append(moves.onA ? "a" : "b")
                aloneWhole = max(aloneWhole, window(try fioRun(limitedSeconds)))
                limited = max(limited, window(try await moves.during(rate: limitedRate) { try fioRun(limitedSeconds) }))
            }
            BenchReport.emit([
                ("bench", "move.foreground.randwrite.4k.qd16.\(medium)"), ("iopsAlone", Int(alone)),
                ("iopsDuringMove", Int(unlimited)), ("ratio", unlimited / max(alone, 1)),
                ("seconds", seconds), ("iopsAloneWhole", Int(aloneWhole)), ("iopsDuringMove50MiB", Int(limited)),
                ("ratio50MiB", limited / max(aloneWhole, 1)), ("secondsWhole", limitedSeconds),
                ("rounds", rounds.joined(separator: " ")),
            ])
        }
        // Last: its writes to both files leave dirty pages that the moves' flushes would write
        // back.
        if let fio, options.filter.map({ "move.mirror.insync.randwrite.4k.qd16.\(medium)".contains($0) }) ?? true {
            try await mirrorInSync(
                manager: manager, directory: directory, socket: socket, medium: medium, fio: fio, size: size)
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        if let fio, options.filter.map({ "move.peer.qemu-mirror.randwrite.4k.qd16.\(medium)".contains($0) }) ?? true {
            try qemuMirror(directory: directory, medium: medium, fio: fio, size: size)
        }
    }

    /// Moves the device between `a` and `b`, one job after another (never two at once: its
    /// state is touched by one task at a time).
    final class Mover: @unchecked Sendable {
        let jobs: JobManager
        let manager: DeviceManager
        var onA = true
        /// Set when ``during(rate:_:)``'s body has ended: no further move starts.
        let stopping = Atomic<Bool>(false)

        init(jobs: JobManager, manager: DeviceManager) {
            self.jobs = jobs
            self.manager = manager
        }

        /// One move to the other backend; returns its seconds.
        func once(rate: UInt64) async throws -> Double {
            let start = ContinuousClock.now
            let job = try await jobs.startMove(
                device: "d", from: onA ? "a" : "b", to: onA ? "b" : "a", maxBytesPerSecond: rate)
            onA.toggle()
            try await Self.wait(for: job.id, jobs: jobs, manager: manager)
            return MoveBench.seconds(ContinuousClock.now - start)
        }

        /// Runs `body` (on a thread of its own: fio is a blocking child) while moves follow one
        /// another; returns its result once the move under way when it ended has ended too.
        func during<T: Sendable>(rate: UInt64, _ body: @escaping @Sendable () throws -> T) async throws -> T {
            let work = Task.detached { try body() }
            // Stopped by a flag, not by cancelling the task: a cancelled task's waits for the
            // job's events would return at once, and it would spin until the move ended.
            stopping.store(false, ordering: .relaxed)
            let moving = Task {
                while !self.stopping.load(ordering: .relaxed) { _ = try await self.once(rate: rate) }
            }
            let result = try await work.value
            stopping.store(true, ordering: .relaxed)
            try await moving.value
            return result
        }

        /// Waits for the job's end (a long poll on the event log); throws unless it completed.
        static func wait(for id: String, jobs: JobManager, manager: DeviceManager) async throws {
            var seen = manager.engine.events.lastSeq
            while true {
                let job = try jobs.job(id)
                if job.machine.phase.isFinal {
                    guard job.machine.phase == .completed else {
                        throw MapperBenchError("\(id) ended \(job.machine.phase.rawValue): \(job.machine.error ?? "")")
                    }
                    return
                }
                seen = await manager.engine.events.wait(after: seen, timeout: .seconds(1)).last
            }
        }
    }

    /// Log files beside the data, as the server keeps them in its data directory.
    static func logs(in directory: URL, manager: DeviceManager) -> MoveLogStorage {
        MoveLogStorage(
            create: { name, sectors in
                let url = directory.appendingPathComponent("\(name).log")
                try? FileManager.default.removeItem(at: url)
                try await manager.createBackend(name: name, file: "\(name).log", url: url, sizeBytes: sectors * 512)
            },
            remove: { name in try? FileManager.default.removeItem(at: directory.appendingPathComponent("\(name).log")) }
        )
    }

    /// A fully allocated file of `size` bytes of `byte`, on disk and out of the page cache, as
    /// an image is after a boot. Its pages written here would stay cached in large folios (1 MiB
    /// writes), into which a 4 KiB `pwrite` on ext4 costs several times what it costs into a
    /// page not cached; the first windows would pay that and the later ones not (each file's
    /// cache is dropped when it is first a move's destination), so the figures would depend on
    /// the order of the windows.
    static func fill(_ url: URL, size: UInt64, byte: UInt8) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        let chunk = Data(repeating: byte, count: 1 << 20)
        for _ in 0..<(size >> 20) { handle.write(chunk) }
        try handle.close()
        try dropCache(url)
    }

    /// Writes the file's dirty pages and drops it from the page cache.
    static func dropCache(_ url: URL) throws {
        let handle = try FileHandle(forUpdating: url)
        try handle.synchronize()
        _ = posix_fadvise(handle.fileDescriptor, 0, 0, POSIX_FADV_DONTNEED)
        try handle.close()
    }

    /// The throttle of the limited moves.
    static let limitedRate: UInt64 = 50 << 20

    /// fio's window alone and during unlimited moves.
    var windowSeconds: Int { max(2, Int((options.seconds * 5).rounded())) }

    /// fio's window around a move at ``limitedRate``: a move of `size` bytes at that rate takes
    /// about 21 s for 1 GiB, and fio runs that long, so that the figure covers every phase of
    /// the move (its start, the resync as more and more regions are in sync and written to
    /// both legs, the swap to the destination), not its start alone.
    func limitedWindowSeconds(size: UInt64) -> Int {
        max(windowSeconds, Int((Double(size) / Double(Self.limitedRate)).rounded(.up)) + 1)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
