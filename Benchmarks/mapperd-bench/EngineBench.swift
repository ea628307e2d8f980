import Foundation
import Logging
import MapperCore
import MapperServer

#if canImport(Glibc)
    import Glibc
#endif

/// `mapperd-bench engine`: 4 KiB random reads and writes through linear, zero and multipath
/// devices against raw `pread`/`pwrite` on the same file in the same run, at 1, 2 and 4
/// submitters, per directory; and the load time of a 100,000-line table.
///
/// Bios are submitted as users' requests submit them, over the server's own runtime (the
/// SQLite store and its journal, as `mapperd serve` runs):
/// - `.nbd`: as the NBD export does, through an ``ExportSession`` and the connection's
///   ``BioCache`` (one bio per request with an end-I/O receiver, renewed from the cache once
///   the last one is handed back; a read's destination from the same cache; the session's
///   admission and the held-I/O generation it reads);
/// - `.http`: as the data routes do, through ``DataService`` (the bio registry, the
///   idempotency and respond-async handling, the wait for the end).
struct EngineBench {
    let options: BenchOptions
    static let fileBytes = 64 << 20

    /// How a case submits its bios.
    enum Door: String, CaseIterable {
        case nbd, http
    }

    /// Per-submitter state: its buffer, offset generator and, for the NBD way, what a
    /// connection has (its session and the receiver its requests end through).
    final class Submitter: @unchecked Sendable {
        let buffer = IOBuffer(count: 4096)
        var offsets: RandomOffsets
        let bios: BioCache
        let receiver = Receiver()

        init(seed: UInt64, session: ExportSession) {
            offsets = RandomOffsets(seed: seed &* 0x9E37_79B9_7F4A_7C15, blocks: UInt64(EngineBench.fileBytes / 4096))
            bios = BioCache(session: session)
        }
    }

    /// The end-I/O receiver of an NBD-way bio: it only counts, as the export's would reply.
    final class Receiver: BlockIOCompletion, @unchecked Sendable {
        nonisolated(unsafe) var ended = 0
        func endIO(_ error: Errno?) { ended &+= 1 }
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
        let data = dir.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let file = data.appendingPathComponent("disk.img")
        try Data(repeating: 0xA5, count: Self.fileBytes).write(to: file)
        let medium = directory.hasPrefix("/dev/shm") ? "shm" : "disk"

        var logger = Logger(label: "mapperd-bench")
        logger.logLevel = .warning
        let runtime = try await MapperRuntime(
            configuration: ServerConfiguration(port: 0, dataDirectory: data), logger: logger)
        let manager = runtime.manager
        try await manager.createBackend(name: "disk", file: "disk.img", url: file)
        let sectors = UInt64(Self.fileBytes / 512)
        try await manager.createPath(name: "p1", backend: "disk")
        try await manager.createPath(name: "p2", backend: "disk")
        let tables = [
            ("linear", "lin", "0 \(sectors) linear disk 0"),
            ("zero", "z", "0 \(sectors) zero"),
            ("multipath.rr2", "mp", "0 \(sectors) multipath 0 0 1 1 round-robin 0 2 1 p1 1 p2 1"),
        ]
        var devices: [(label: String, device: MappedDevice)] = []
        for (label, name, table) in tables {
            devices.append((label, try await manager.createDevice(name: name, table: TableParser.parse(table))))
        }
        let fd = open(file.path, O_RDWR)
        guard fd >= 0 else { throw MapperError(.EIO, "cannot open \(file.path)") }
        defer { close(fd) }
        let service = DataService(runtime: runtime)

        for (label, device) in devices {
            for door in Door.allCases {
                for op in [BioOp.read, .write] {
                    for submitters in [1, 2, 4] {
                        let name = "engine.\(label).rand\(op == .read ? "read" : "write").4k.c\(submitters).\(door)"
                        if let filter = options.filter, !name.contains(filter) { continue }
                        let deviceName = device.name
                        // One session per submitter, as each NBD connection has its own.
                        let states = (0..<submitters).map { index in
                            Submitter(
                                seed: UInt64(index + 1),
                                session: ExportSession(device: device, manager: manager, revoke: {}))
                        }
                        defer { for state in states { state.bios.session.close() } }
                        let result = await Throughput.compare(
                            submitters: submitters, seconds: options.seconds,
                            engine: { index in
                                let state = states[index]
                                let sector = state.offsets.next() * 8
                                switch door {
                                case .nbd:
                                    let bios = state.bios
                                    let bio = bios.makeBio(
                                        op: op, sector: sector, sectors: 8,
                                        // A read's destination as the export takes it; a write's
                                        // payload is the decoder's, outside the engine.
                                        buffer: op == .read ? bios.buffer(count: 4096) : state.buffer,
                                        endIO: state.receiver)
                                    if case .submitted = bios.session.submit(bio), bio.ended == nil {
                                        _ = await bio.wait()
                                    }
                                    // Done with it, as the export is once its reply is sent.
                                    var done: Bio? = consume bio
                                    bios.recycle(&done)
                                case .http:
                                    if op == .read {
                                        _ = try? await service.read(
                                            device: deviceName,
                                            range: ByteRange(
                                                offset: "\(sector << 9)", length: "4096", maxLength: 8 << 20))
                                    } else {
                                        _ = try? await service.write(
                                            device: deviceName,
                                            range: ByteRange(offset: Int64(sector << 9), bodyLength: 4096),
                                            buffer: state.buffer, respondAsync: false, idempotencyKey: nil)
                                    }
                                }
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
                        BenchReport.throughput(
                            name, ops: result.engine, baseline: result.baseline, ratio: result.ratio,
                            extra: [("medium", medium)])
                    }
                }
            }
        }
        await runtime.close()
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
