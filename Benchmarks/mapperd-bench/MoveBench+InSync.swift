import Foundation
import MapperCore

extension MoveBench {
    /// `move.mirror.insync.*`: fio's nbd engine, 4 KiB randwrite at QD16 through mapperd's
    /// export, on a `linear` device over `a` and on `mirror`s over `a` and `b` whose regions
    /// are all in sync (`nosync`), with a `core` log and with a `disk` one, interleaved, best of
    /// three each. Every write to such a mirror goes to both files: this is what foreground
    /// writes get in the last part of a move, when nearly every region is in sync, and so the
    /// floor of the figure over a whole move.
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
        for _ in 0..<3 {
            for (name, _) in devices {
                let iops = try NBDBench.fio(
                    fio, uri: "nbd+unix:///\(name)?socket=\(socket)", rw: "randwrite", depth: 16, jobs: 1,
                    seconds: seconds, size: size
                ).iops
                best[name] = max(best[name] ?? 0, iops)
            }
        }
        for (name, _) in devices { try await manager.removeDevice(named: name) }
        try await manager.removeBackend(named: "insync-log")
        let linear = max(best["linear"] ?? 0, 1)
        BenchReport.emit([
            ("bench", "move.mirror.insync.randwrite.4k.qd16.\(medium)"), ("iopsLinear", Int(linear)),
            ("iopsMirrorCore", Int(best["mirror-core"] ?? 0)), ("iopsMirrorDisk", Int(best["mirror-disk"] ?? 0)),
            ("ratioCore", (best["mirror-core"] ?? 0) / linear), ("ratioDisk", (best["mirror-disk"] ?? 0) / linear),
            ("seconds", seconds),
        ])
    }
}
