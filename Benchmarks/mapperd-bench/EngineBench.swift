import Foundation
import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// `mapperd-bench engine`: 4 KiB random reads and writes through a linear device against raw
/// `pread`/`pwrite` on the same file in the same run, at 1, 2 and 4 submitters, per directory;
/// and the load time of a 100,000-line table.
///
/// Each submitter issues one bio after another and reuses it (``DeviceManager/reuseBio``), as
/// a high-rate submitter does; `engine.linear.randread.4k.c1.newbio` allocates a new bio per
/// I/O instead, to show what the allocation costs.
struct EngineBench {
    let options: BenchOptions
    static let fileBytes = 64 << 20

    /// Per-submitter state: its buffer and offset generator.
    final class Submitter: @unchecked Sendable {
        let buffer = IOBuffer(count: 4096)
        var offsets: RandomOffsets
        /// The submitter's bio, reused for each I/O.
        var bio: Bio

        init(seed: UInt64, manager: DeviceManager) {
            offsets = RandomOffsets(seed: seed &* 0x9E37_79B9_7F4A_7C15, blocks: UInt64(EngineBench.fileBytes / 4096))
            bio = manager.makeBio(op: .read, sector: 0, sectors: 8, buffer: buffer)
        }
    }

    func run() async throws {
        for directory in options.directories {
            try await runCases(in: directory)
        }
        if options.filter.map({ "engine.table.load.100k".contains($0) }) ?? true { try await tableLoad() }
    }

    private func runCases(in directory: String) async throws {
        let dir = URL(fileURLWithPath: directory).appendingPathComponent("mapperd-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("disk.img")
        try Data(repeating: 0xA5, count: Self.fileBytes).write(to: file)
        let medium = directory.hasPrefix("/dev/shm") ? "shm" : "disk"

        let manager = DeviceManager(engine: EngineServices())
        try await manager.createBackend(name: "disk", file: "disk.img", url: file)
        let sectors = UInt64(Self.fileBytes / 512)
        try await manager.createPath(name: "p1", backend: "disk")
        try await manager.createPath(name: "p2", backend: "disk")
        let linear = try await manager.createDevice(
            name: "lin", table: TableParser.parse("0 \(sectors) linear disk 0"))
        let fd = open(file.path, O_RDWR)
        guard fd >= 0 else { throw MapperError(.EIO, "cannot open \(file.path)") }
        defer { close(fd) }

        let zeroDev = try await manager.createDevice(name: "z", table: TableParser.parse("0 \(sectors) zero"))
        let devices: [(String, MappedDevice)] =
            [("linear", linear), ("zero", zeroDev)] + (try await extraDevices(manager, sectors: sectors))
        let cases: [(label: String, device: MappedDevice, op: BioOp, submitters: Int, newBio: Bool)] =
            devices.flatMap { label, device in
                [BioOp.read, .write].flatMap { op in [1, 2, 4].map { (label, device, op, $0, false) } }
            } + [("linear", linear, .read, 1, true)]
        for (label, device, op, submitters, newBio) in cases {
            let name = "engine.\(label).rand\(op == .read ? "read" : "write").4k.c\(submitters)\(newBio ? ".newbio" : "")"
            if let filter = options.filter, !name.contains(filter) { continue }
            let states = (0..<submitters).map { Submitter(seed: UInt64($0 + 1), manager: manager) }
            let result = await Throughput.compare(
                submitters: submitters, seconds: options.seconds,
                engine: { index in
                    let state = states[index]
                    let sector = state.offsets.next() * 8
                    if newBio {
                        state.bio = manager.makeBio(op: op, sector: sector, sectors: 8, buffer: state.buffer)
                    } else {
                        manager.reuseBio(&state.bio, op: op, sector: sector, sectors: 8, buffer: state.buffer)
                    }
                    _ = try? await device.perform(state.bio)
                },
                baseline: { index in
                    let state = states[index]
                    let offset = off_t(state.offsets.next() * 4096)
                    if op == .read {
                        _ = pread(fd, state.buffer.base, 4096, offset)
                    } else {
                        _ = pwrite(fd, state.buffer.base, 4096, offset)
                    }
                })
            BenchReport.throughput(name, ops: result.engine, baseline: result.baseline, extra: [("medium", medium)])
        }
    }

    /// Devices beyond linear measured with the same cases (multipath adds itself here).
    private func extraDevices(_ manager: DeviceManager, sectors: UInt64) async throws -> [(String, MappedDevice)] {
        guard manager.engine.targetTypes.type(named: "multipath") != nil else { return [] }
        let device = try await manager.createDevice(
            name: "mp", table: TableParser.parse("0 \(sectors) multipath 0 0 1 1 round-robin 0 2 1 p1 1 p2 1"))
        return [("multipath.rr2", device)]
    }

    /// Parses and constructs a 100,000-line table (linear targets onto one backend), against a
    /// budget of one second.
    private func tableLoad() async throws {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("mapperd-bench-t\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let manager = DeviceManager(engine: EngineServices())
        try await manager.createBackend(
            name: "disk", file: "t.img", url: dir.appendingPathComponent("t.img"), sizeBytes: 100_000 * 8 * 512)
        var text = ""
        text.reserveCapacity(100_000 * 32)
        for index in 0..<100_000 { text += "\(index * 8) 8 linear disk \(index * 8)\n" }
        try await manager.createDevice(name: "big")
        var best = Double.infinity
        for _ in 0..<3 {
            let start = ContinuousClock.now
            try await manager.load(device: "big", text: text)
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
        }
        BenchReport.emit([
            ("bench", "engine.table.load.100k"), ("seconds", best), ("budgetSeconds", 1.0), ("ratio", best / 1.0),
        ])
    }
}
