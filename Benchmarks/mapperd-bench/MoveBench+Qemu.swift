import Foundation

extension MoveBench {
    /// `move.peer.qemu-mirror.*`: the foreground case's writes and windows against qemu's
    /// `blockdev-mirror` at 50 MiB/s (``QemuMirrorBaseline``), on files of its own in the same
    /// directory, filled as mapperd's are. Each round: fio alone, during a `write-blocking`
    /// job (every write to both files, as the `mirror` target's rule), during a `background`
    /// job (the source only). Best of three each; `backgroundReady` counts the background jobs
    /// that reached their end while fio wrote; `rounds` lists every window's IOPS in order.
    /// Skipped (a line says so) without `qemu-storage-daemon`.
    func qemuMirror(directory: URL, medium: String, fio: String, size: UInt64) throws {
        let name = "move.peer.qemu-mirror.randwrite.4k.qd16.\(medium)"
        guard let daemon = QemuMirrorBaseline.find() else {
            BenchReport.emit([
                ("bench", name),
                ("skipped", "qemu-storage-daemon is not installed (apt-get install qemu-system-common)"),
            ])
            return
        }
        let source = directory.appendingPathComponent("qemu-a.img")
        let target = directory.appendingPathComponent("qemu-b.img")
        defer {
            try? FileManager.default.removeItem(at: source)
            try? FileManager.default.removeItem(at: target)
        }
        try Self.fill(source, size: size, byte: 0x5a)
        try Self.fill(target, size: size, byte: 0)
        let qemu = try QemuMirrorBaseline(daemon: daemon, directory: directory, source: source, target: target)
        defer { qemu.stop() }
        let rate = Self.limitedRate
        let seconds = limitedWindowSeconds(size: size)
        let fioRun = {
            try NBDBench.fio(fio, uri: qemu.uri, rw: "randwrite", depth: 16, jobs: 1, seconds: seconds, size: size).iops
        }
        var alone = 0.0
        var blocking = 0.0
        var background = 0.0
        var backgroundReady = 0
        var rounds: [String] = []
        for _ in 0..<3 {
            let once = try fioRun()
            let (whileBlocking, _) = try qemu.during(copyMode: "write-blocking", bytesPerSecond: rate, fioRun)
            let (whileBackground, ready) = try qemu.during(copyMode: "background", bytesPerSecond: rate, fioRun)
            rounds += ["\(Int(once))", "\(Int(whileBlocking))", "\(Int(whileBackground))"]
            alone = max(alone, once)
            blocking = max(blocking, whileBlocking)
            background = max(background, whileBackground)
            if ready { backgroundReady += 1 }
        }
        BenchReport.emit([
            ("bench", name), ("iopsAlone", Int(alone)), ("iopsWriteBlocking50MiB", Int(blocking)),
            ("ratioWriteBlocking50MiB", blocking / max(alone, 1)), ("iopsBackground50MiB", Int(background)),
            ("ratioBackground50MiB", background / max(alone, 1)), ("backgroundReady", "\(backgroundReady)/3"),
            ("seconds", seconds), ("rounds", rounds.joined(separator: " ")),
        ])
    }
}
