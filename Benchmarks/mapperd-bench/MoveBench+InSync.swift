import Foundation
import MapperCore

extension MoveBench {
    /// `move.mirror.insync.*`: fio's nbd engine, 4 KiB randwrite at QD16 through mapperd's
    /// export, on a `linear` device over `a` and on `mirror`s over `a` and `b` whose regions
    /// are all in sync (`nosync`), with a `core` log and with a `disk` one, interleaved, best of
    /// three each. Every write to such a mirror goes to both files: this is what foreground
    /// writes get in the last part of a move, when nearly every region is in sync, and so the
    /// floor of the figure over a whole move. Prints the CPU time per write of the server (this
    /// process) and of fio for the linear device and the mirror with a `disk` log (where a
    /// move's extra cost goes, on a machine whose CPUs the writes keep busy), and the ceiling
    /// that the mirror's ratio sets on the figure over a whole move (``ceilingOverMove(inSyncRatio:)``).
    func mirrorInSync(manager: DeviceManager, directory: URL, socket: String, medium: String, fio: String, size: UInt64)
        async throws
    {
        let sectors = size >> 9
        try await manager.createBackend(
            name: "insync-log", file: "insync-log.img", url: directory.appendingPathComponent("insync-log.img"),
            sizeBytes: 1 << 20)
        let devices = [
            ("linear", "0 \(sectors) linear a 0"),
            ("mirror-core", "0 \(sectors) mirror core 2 1024 nosync 2 a 0 b 0"),
            ("mirror-disk", "0 \(sectors) mirror disk 3 insync-log 1024 nosync 2 a 0 b 0"),
        ]
        for (name, table) in devices { try await manager.createDevice(name: name, table: TableParser.parse(table)) }
        let seconds = max(2, Int((options.seconds * 10).rounded()))
        var best: [String: Double] = [:]
        // CPU time per write of the best run: this process's (the server, in-process) and fio's.
        var server: [String: Double] = [:]
        var client: [String: Double] = [:]
        for _ in 0..<3 {
            for (name, _) in devices {
                let before = ServerUsage.thisProcess
                let run = try NBDBench.fio(
                    fio, uri: "nbd+unix:///\(name)?socket=\(socket)", rw: "randwrite", depth: 16, jobs: 1,
                    seconds: seconds, size: size)
                let used = ServerUsage.thisProcess - before
                guard run.iops > best[name] ?? 0 else { continue }
                best[name] = run.iops
                server[name] = used.cpuSeconds * 1e6 / Double(max(run.ios, 1))
                client[name] = run.clientCpuSeconds * 1e6 / Double(max(run.ios, 1))
            }
        }
        for (name, _) in devices { try await manager.removeDevice(named: name) }
        try await manager.removeBackend(named: "insync-log")
        let linear = max(best["linear"] ?? 0, 1)
        let ratioDisk = (best["mirror-disk"] ?? 0) / linear
        BenchReport.emit([
            ("bench", "move.mirror.insync.randwrite.4k.qd16.\(medium)"), ("iopsLinear", Int(linear)),
            ("iopsMirrorCore", Int(best["mirror-core"] ?? 0)), ("iopsMirrorDisk", Int(best["mirror-disk"] ?? 0)),
            ("ratioCore", (best["mirror-core"] ?? 0) / linear), ("ratioDisk", ratioDisk),
            ("serverCpuMicrosPerIOLinear", server["linear"] ?? 0),
            ("serverCpuMicrosPerIOMirrorDisk", server["mirror-disk"] ?? 0),
            ("clientCpuMicrosPerIOLinear", client["linear"] ?? 0),
            ("clientCpuMicrosPerIOMirrorDisk", client["mirror-disk"] ?? 0),
            ("ceilingOverMove", Self.ceilingOverMove(inSyncRatio: ratioDisk)), ("seconds", seconds),
        ])
    }

    /// What foreground writes over a whole move at a constant rate would keep of their IOPS
    /// alone if writing regions in sync to both legs were the move's only cost: the move
    /// brings regions into sync at an even pace, so a write finds its region in sync with a
    /// chance `f` that grows from 0 to 1, and costs `1 + f·c` times a write to one leg, where
    /// `c` is what a mirror in sync adds (`1/inSyncRatio − 1`). The mean rate over the move is
    /// the mean of `1/(1 + f·c)`, `ln(1 + c)/c`. Copies, flushes and write-back come on top, so
    /// the figure at 50 MiB/s stays below it.
    static func ceilingOverMove(inSyncRatio: Double) -> Double {
        guard inSyncRatio > 0, inSyncRatio < 1 else { return 1 }
        let c = 1 / inSyncRatio - 1
        return Foundation.log(1 + c) / c
    }
}
