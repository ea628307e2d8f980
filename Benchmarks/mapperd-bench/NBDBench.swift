import Foundation
import Logging
import MapperCore
import MapperNBD
import ServiceLifecycle

/// `mapperd-bench nbd`: fio's `nbd` engine against mapperd's NBD export of a linear device
/// and against `nbdkit file` on the same file, in the same run, rounds interleaved (mapperd,
/// nbdkit, mapperd, ...). Both are reached over a unix socket, so neither pays for TCP.
/// Cases: 4 KiB randread and randwrite at iodepth 1 and 16, and 4 jobs × iodepth 16 (four
/// connections). Prints one JSON line per case: both IOPS (the best of three rounds), the
/// ratio mapperd / nbdkit, and for that best round each server's CPU time (user and system)
/// and context switches per I/O, and what fio itself used: CPU per I/O and the share of a CPU
/// each of its jobs kept busy over the run (near 1.0, that job's own work bounds the IOPS,
/// whichever server answers it). nbdkit runs in the foreground for each round, so that what
/// all its threads used is known when it exits. Needs `fio` and `nbdkit` on the PATH.
struct NBDBench {
    let options: BenchOptions

    func run() async throws {
        guard let fio = HTTPBench.which("fio"), let nbdkit = HTTPBench.which("nbdkit") else {
            throw MapperError(.ENOENT, "fio and nbdkit are needed (apt-get install fio nbdkit)")
        }
        for base in options.directories {
            try await run(in: URL(fileURLWithPath: base), fio: fio, nbdkit: nbdkit)
        }
    }

    private func run(in base: URL, fio: String, nbdkit: String) async throws {
        let directory = base.appendingPathComponent("mapperd-bench-nbd-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let size: UInt64 = 256 << 20
        let file = directory.appendingPathComponent("disk.img")
        // A fully allocated file, so that neither server reads holes.
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        let chunk = Data(repeating: 0x6d, count: 1 << 20)
        for _ in 0..<(size >> 20) { handle.write(chunk) }
        try handle.close()

        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let manager = DeviceManager()
        try await manager.createBackend(name: "disk", file: "disk.img", url: file)
        try await manager.createDevice(
            name: "lin", table: TableParser.parse("0 \(size >> 9) linear disk 0"))
        let mapperdSocket = directory.appendingPathComponent("mapperd.sock").path
        let server = try NBDServer(
            configuration: Self.configuration(socketPath: mapperdSocket), manager: manager, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let running = Task { try await group.run() }
        _ = await server.listening()

        let nbdkitSocket = directory.appendingPathComponent("nbdkit.sock").path
        let pidFile = directory.appendingPathComponent("nbdkit.pid").path
        let medium = base.path.hasPrefix("/dev/shm") ? "shm" : "disk"
        let mapperdURI = "nbd+unix:///lin?socket=\(mapperdSocket)"
        let nbdkitURI = "nbd+unix:///?socket=\(nbdkitSocket)"
        let cases: [(String, String, Int, Int)] = [
            ("randread", "randread", 1, 1), ("randread", "randread", 16, 1), ("randread", "randread", 16, 4),
            ("randwrite", "randwrite", 1, 1), ("randwrite", "randwrite", 16, 1), ("randwrite", "randwrite", 16, 4),
        ]
        let seconds = max(1, Int((options.seconds * 5).rounded()))
        for (name, rw, depth, jobs) in cases {
            let label = "nbd.linear.\(name).4k.qd\(depth).j\(jobs).\(medium)"
            if let filter = options.filter, !label.contains(filter) { continue }
            let run = { (uri: String) in
                try Self.fio(fio, uri: uri, rw: rw, depth: depth, jobs: jobs, seconds: seconds, size: size)
            }
            var mine = Round(
                iops: 0, ios: 1, usage: ServerUsage(cpuSeconds: 0, contextSwitches: 0), clientCpuSeconds: 0)
            var theirs = mine
            for _ in 0..<3 {
                // mapperd serves from this process: its usage over the run is this process's.
                let before = ServerUsage.thisProcess
                let (iops, ios, client) = try run(mapperdURI)
                if iops > mine.iops {
                    mine = Round(
                        iops: iops, ios: ios, usage: ServerUsage.thisProcess - before, clientCpuSeconds: client)
                }
                // nbdkit runs in the foreground for this run alone, so that `wait4` gives what
                // all its threads used, the per-connection ones that exit included.
                unlink(nbdkitSocket)
                unlink(pidFile)
                let pid = try Spawn.start(nbdkit, ["-f", "-U", nbdkitSocket, "-P", pidFile, "file", file.path])
                try Self.waitForFile(pidFile, pid: pid)
                let result = Result { try run(nbdkitURI) }
                kill(pid, SIGTERM)
                let (_, usage) = Spawn.reap(pid)
                let (theirIOPS, theirIOs, theirClient) = try result.get()
                if theirIOPS > theirs.iops {
                    theirs = Round(
                        iops: theirIOPS, ios: theirIOs, usage: ServerUsage(usage), clientCpuSeconds: theirClient)
                }
            }
            BenchReport.emit([
                ("bench", label), ("iops", Int(mine.iops)), ("baselineIops", Int(theirs.iops)),
                ("baseline", "nbdkit file"), ("ratio", mine.iops / max(theirs.iops, 1)),
                ("cpuMicrosPerIO", mine.cpuMicrosPerIO), ("baselineCpuMicrosPerIO", theirs.cpuMicrosPerIO),
                ("switchesPerIO", mine.switchesPerIO), ("baselineSwitchesPerIO", theirs.switchesPerIO),
                ("clientCpuMicrosPerIO", mine.clientCpuMicrosPerIO),
                ("baselineClientCpuMicrosPerIO", theirs.clientCpuMicrosPerIO),
                ("clientCpuShare", mine.clientCpuSeconds / Double(seconds * jobs)),
                ("baselineClientCpuShare", theirs.clientCpuSeconds / Double(seconds * jobs)),
            ])
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    /// One fio run against one server: its IOPS, its I/Os and what the server used meanwhile.
    struct Round {
        var iops: Double
        var ios: Int
        var usage: ServerUsage
        /// What fio used over the run, all its jobs.
        var clientCpuSeconds: Double

        var clientCpuMicrosPerIO: Double { clientCpuSeconds * 1e6 / Double(max(ios, 1)) }
        var cpuMicrosPerIO: Double { usage.cpuSeconds * 1e6 / Double(max(ios, 1)) }
        var switchesPerIO: Double { Double(usage.contextSwitches) / Double(max(ios, 1)) }
    }

    /// Waits (polling every 2 ms, at most 10 s) until `path` exists: nbdkit writes its pid
    /// file once it listens. Fails if process `pid` exits first.
    static func waitForFile(_ path: String, pid: pid_t) throws {
        for _ in 0..<5000 {
            if FileManager.default.fileExists(atPath: path) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { throw MapperBenchError("nbdkit exited before it listened") }
            usleep(2000)
        }
        kill(pid, SIGTERM)
        _ = Spawn.reap(pid)
        throw MapperBenchError("nbdkit did not listen within 10 s")
    }

    /// The served export's configuration: the server's defaults, with `MAPPERD_NBD_BUSY_POLL_US`
    /// honoured as `mapperd serve` honours it.
    static func configuration(socketPath: String) -> NBDConfiguration {
        var configuration = NBDConfiguration(port: nil, socketPath: socketPath)
        if let micros = ProcessInfo.processInfo.environment["MAPPERD_NBD_BUSY_POLL_US"].flatMap(Int.init), micros >= 0 {
            configuration.busyPoll = .microseconds(micros)
        }
        return configuration
    }

    /// Runs fio's nbd engine and returns the IOPS and the I/Os of the whole group, and the CPU
    /// time fio used (all its jobs, their set-up included).
    static func fio(
        _ fio: String, uri: String, rw: String, depth: Int, jobs: Int, seconds: Int, size: UInt64
    ) throws -> (iops: Double, ios: Int, clientCpuSeconds: Double) {
        let (status, output, usage) = try Spawn.measured(
            fio,
            [
                "--name=bench", "--ioengine=nbd", "--uri=\(uri)", "--rw=\(rw)", "--bs=4k", "--iodepth=\(depth)",
                "--numjobs=\(jobs)", "--size=\(size / UInt64(jobs))", "--offset_increment=\(size / UInt64(jobs))",
                "--time_based", "--runtime=\(seconds)", "--group_reporting", "--output-format=json", "--norandommap",
                "--randrepeat=0",
            ])
        guard status == 0 else { throw MapperBenchError("\(fio) exited with \(status):\n\(output)") }
        guard let start = output.firstIndex(of: "{"),
            let json = try JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any],
            let job = (json["jobs"] as? [[String: Any]])?.first,
            let side = job[rw == "randread" ? "read" : "write"] as? [String: Any], let iops = side["iops"] as? Double,
            let ios = side["total_ios"] as? Int
        else { throw MapperError(.EIO, "cannot read fio output:\n\(output)") }
        if let error = job["error"] as? Int, error != 0 { throw MapperError(.EIO, "fio failed:\n\(output)") }
        return (iops, ios, ServerUsage(usage).cpuSeconds)
    }

    @discardableResult
    static func runTool(_ path: String, _ arguments: [String], capture: Bool = true) throws -> String {
        let (status, output) = try Spawn.run(path, arguments, capture: capture)
        guard status == 0 else { throw MapperBenchError("\(path) exited with \(status):\n\(output)") }
        return output
    }
}
