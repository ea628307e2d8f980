import Foundation
import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// The peer for `move.foreground.*`: qemu's `blockdev-mirror` (qemu-storage-daemon, when
/// installed) moving a 1 GiB raw file to another on the same medium at 50 MiB/s, while fio's
/// nbd engine writes 4 KiB at random at QD16 through qemu's own NBD export of the source,
/// alone and during the mirror job, in the same windows as mapperd's case.
///
/// Both of qemu's copy modes are measured. `write-blocking` writes every guest write to the
/// source and the target before answering it, as dm-raid1's rule (which the `mirror` target
/// follows) writes every write to a region in sync to every leg. `background` writes the
/// source only and copies what was written again later: it costs the writes nothing, and it
/// reaches its end (`ready`) only if the copy outruns the writes; the row says whether it did.
///
/// Files are opened through the page cache (`cache.direct=off`), as mapperd's file backends
/// are.
struct QemuMirrorBaseline {
    /// The NBD export's Unix socket.
    let socket: String
    private let monitor: QemuMonitor
    private let pid: pid_t

    /// The daemon's path, if installed (Debian: `qemu-system-common`).
    static func find() -> String? {
        HTTPBench.which("qemu-storage-daemon")
    }

    /// Starts the daemon on `source` and `target` (files of the same size), exporting the
    /// source over NBD on a Unix socket in `directory` as `src`.
    init(daemon: String, directory: URL, source: URL, target: URL) throws {
        socket = directory.appendingPathComponent("qemu-nbd.sock").path
        let qmp = directory.appendingPathComponent("qemu-qmp.sock").path
        let pidFile = directory.appendingPathComponent("qemu.pid")
        // `--daemonize` returns once the sockets listen.
        let (status, _) = try Spawn.run(
            daemon,
            [
                "--blockdev", "file,filename=\(source.path),node-name=src-file,cache.direct=off",
                "--blockdev", "raw,file=src-file,node-name=src",
                "--blockdev", "file,filename=\(target.path),node-name=dst-file,cache.direct=off",
                "--blockdev", "raw,file=dst-file,node-name=dst",
                "--nbd-server", "addr.type=unix,addr.path=\(socket)",
                "--export", "nbd,id=export,node-name=src,name=src,writable=on",
                "--chardev", "socket,path=\(qmp),server=on,wait=off,id=qmp", "--monitor", "chardev=qmp",
                "--pidfile", pidFile.path, "--daemonize",
            ])
        guard status == 0 else { throw MapperBenchError("qemu-storage-daemon exited with \(status)") }
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
            let number = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw MapperBenchError("qemu-storage-daemon wrote no pid file") }
        pid = number
        do {
            monitor = try QemuMonitor(path: qmp)
        } catch {
            kill(number, SIGTERM)
            throw error
        }
    }

    var uri: String { "nbd+unix:///src?socket=\(socket)" }

    /// Runs `body` while a mirror job copies the source to the target at `bytesPerSecond` in
    /// `copyMode`; then cancels the job (the source stays the export) and waits for it to go.
    /// Returns the body's result and whether the job had reached `ready` when the body ended.
    func during<T>(copyMode: String, bytesPerSecond: UInt64, _ body: () throws -> T) throws -> (T, ready: Bool) {
        try monitor.execute(
            "blockdev-mirror",
            [
                "job-id": "move", "device": "src", "target": "dst", "sync": "full", "speed": bytesPerSecond,
                "copy-mode": copyMode,
            ])
        let result = try body()
        let jobs = try monitor.execute("query-block-jobs") as? [[String: Any]] ?? []
        let ready = jobs.first?["ready"] as? Bool ?? false
        try monitor.execute("block-job-cancel", ["device": "move", "force": true])
        while let left = try monitor.execute("query-block-jobs") as? [[String: Any]], !left.isEmpty {
            _ = try monitor.nextEvent()
        }
        return (result, ready)
    }

    func stop() {
        kill(pid, SIGTERM)
    }
}
